/**
 * The program a pattern compiles to (parallel arrays indexed by pc, Thompson's construction) and
 * the character tests the simulation in regex.ts runs on it: split out of regex.ts to keep both
 * files short.
 */
import { AssertKind, MAX_PROGRAM_SIZE, type Node, type Ranges, RegexPatternError } from './regex-syntax.js'

// Program: parallel arrays indexed by pc.
export const OP_CHAR = 0
export const OP_CLASS = 1
export const OP_ANY = 2
export const OP_SPLIT = 3
export const OP_JMP = 4
export const OP_ASSERT = 5
export const OP_MATCH = 6

export class Compiler {
  readonly op: number[] = []
  readonly a: number[] = []
  readonly b: number[] = []
  readonly classes: { ranges: Ranges; negated: boolean }[] = []

  private emit(op: number, a = 0, b = 0): number {
    if (this.op.length >= MAX_PROGRAM_SIZE) {
      throw new RegexPatternError(`pattern too complex (more than ${MAX_PROGRAM_SIZE} states)`)
    }
    this.op.push(op)
    this.a.push(a)
    this.b.push(b)
    return this.op.length - 1
  }

  compile(node: Node): void {
    switch (node.t) {
      case 'empty':
        return
      case 'char':
        this.emit(OP_CHAR, node.c)
        return
      case 'any':
        this.emit(OP_ANY)
        return
      case 'class':
        this.classes.push({ ranges: node.ranges, negated: node.negated })
        this.emit(OP_CLASS, this.classes.length - 1)
        return
      case 'assert':
        this.emit(OP_ASSERT, node.kind)
        return
      case 'cat':
        for (const item of node.items) this.compile(item)
        return
      case 'alt': {
        // split L1, next; L1: item0; jmp end; next: split ... ; last item
        const jumps: number[] = []
        for (let i = 0; i < node.items.length - 1; i++) {
          const split = this.emit(OP_SPLIT)
          this.a[split] = this.op.length
          this.compile(node.items[i]!)
          jumps.push(this.emit(OP_JMP))
          this.b[split] = this.op.length
        }
        this.compile(node.items[node.items.length - 1]!)
        for (const j of jumps) this.a[j] = this.op.length
        return
      }
      case 'repeat': {
        for (let i = 0; i < node.min; i++) this.compile(node.node)
        if (node.max === -1) {
          // L: split body, end; body; jmp L
          const split = this.emit(OP_SPLIT)
          this.a[split] = this.op.length
          this.compile(node.node)
          const jmp = this.emit(OP_JMP)
          this.a[jmp] = split
          this.b[split] = this.op.length
        } else {
          const splits: number[] = []
          for (let i = node.min; i < node.max; i++) {
            const split = this.emit(OP_SPLIT)
            this.a[split] = this.op.length
            splits.push(split)
            this.compile(node.node)
          }
          for (const s of splits) this.b[s] = this.op.length
        }
        return
      }
    }
  }
}

export function isWordUnit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || (c >= 0x61 && c <= 0x7a)
}

export function inRanges(ranges: Ranges, c: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) {
    if (c < ranges[i]!) return false
    if (c <= ranges[i + 1]!) return true
  }
  return false
}

export function assertHolds(kind: number, input: string, pos: number): boolean {
  switch (kind) {
    case AssertKind.Start:
      return pos === 0
    case AssertKind.End:
      return pos === input.length
    default: {
      const before = pos > 0 && isWordUnit(input.charCodeAt(pos - 1))
      const after = pos < input.length && isWordUnit(input.charCodeAt(pos))
      return (before !== after) === (kind === AssertKind.WordBoundary)
    }
  }
}

export function startsAnchored(node: Node): boolean {
  if (node.t === 'assert') return node.kind === AssertKind.Start
  if (node.t === 'cat') return node.items.length > 0 && startsAnchored(node.items[0]!)
  if (node.t === 'alt') return node.items.every(startsAnchored)
  return false
}

export function literalOf(node: Node): string | undefined {
  if (node.t === 'char') return String.fromCharCode(node.c)
  if (node.t === 'cat' && node.items.every((n) => n.t === 'char')) {
    return node.items.map((n) => String.fromCharCode((n as { c: number }).c)).join('')
  }
  return undefined
}
