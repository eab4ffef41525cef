/**
 * A linear-time regular-expression matcher for the `matches` operator.
 *
 * Why not `RegExp`: V8's backtracking engine needs exponential time on nested quantifiers
 * (`(a+)+$`) and polynomial time on plain adjacent ones: `/.*.*.*x/` on 1,024 characters takes
 * about a minute. Rejecting "nested quantifiers" does not rule out the second kind, so patterns run
 * on a Thompson NFA simulated breadth-first (Pike/Thompson, as RE2 and Go do): O(pattern × input)
 * whatever the pattern. Patterns are still screened on write (no backreferences, no lookarounds,
 * no nested quantifiers, bounded length and program size) so that the bounded cost stays small.
 *
 * Syntax: JavaScript RegExp without flags, on UTF-16 code units (`test` semantics: a match
 * anywhere unless anchored): literals, `.`, `[...]` / `[^...]` with ranges, `\d \D \w \W \s \S`,
 * `\b \B`, `\t \n \r \f \v \0 \xHH \uHHHH`, escaped punctuation, `^ $`, groups `(...)`, `(?:...)`,
 * `(?<name>...)`, alternation, and the quantifiers `* + ? {n} {n,} {n,m}` (lazy forms accepted;
 * for a yes/no answer they are the same).
 *
 * Why not re2js (2.10.0, the maintained RE2 port; issue 8 asked to switch if it is at least as fast
 * and as safe): measured on one run on the shared 2-core machine (Node 20), re2js/ours, higher is
 * re2js faster. Evaluation (the flag of `benchmarks/evaluate.ts` scenario (b) with an
 * `email matches ^[a-z0-9.]+@example\.com$` condition, 4096 contexts, engine swapped under
 * `evaluate`, same answers): 0.63 (another run 0.84). The matcher alone: that pattern 1.08,
 * `^(beta|alpha)-\d+$` 0.43, `Mobile|Android` 4.54. Hostile patterns on 1 KiB of `a`: both linear;
 * ours 96 µs on `(a|a)*b`, 155 µs on `.*.*.*x`, 122 µs on `(a|aa)*c`, re2js under 1 µs on each (its
 * literal prefilter and DFA: about 1,200-2,200x); `(a+)+$`, `(?:a?){20}a{20}` and `^(\w+\s?)*$`
 * ours rejects on write (nested quantifier), re2js runs in 1-16 µs. As safe, then, and far faster on
 * hostile input, but slower on the evaluation path where flags spend their time (and 5x the code to
 * ship): not "at least as fast", so ours stays. Worth measuring again if hostile-pattern cost or
 * alternations of literals start to matter (re-run: a script swapping `SafeRegex.prototype.test`).
 */
import {
  AssertKind,
  MAX_PATTERN_LENGTH,
  MAX_PROGRAM_SIZE,
  type Node,
  Parser,
  type Ranges,
  RegexPatternError,
} from './regex-syntax.js'

export { MAX_PATTERN_LENGTH, RegexPatternError }

// Program: parallel arrays indexed by pc.
const OP_CHAR = 0
const OP_CLASS = 1
const OP_ANY = 2
const OP_SPLIT = 3
const OP_JMP = 4
const OP_ASSERT = 5
const OP_MATCH = 6

class Compiler {
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

function isWordUnit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || (c >= 0x61 && c <= 0x7a)
}

function inRanges(ranges: Ranges, c: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) {
    if (c < ranges[i]!) return false
    if (c <= ranges[i + 1]!) return true
  }
  return false
}

/** A compiled pattern. `test` runs in O(pattern size × input length) and allocates nothing per call. */
export class SafeRegex {
  private readonly op: Int32Array
  private readonly a: Int32Array
  private readonly b: Int32Array
  private readonly classes: { ranges: Ranges; negated: boolean }[]
  private readonly anchoredStart: boolean
  /** Set when the pattern is plain text: then `includes` answers. */
  private readonly literal: string | undefined
  // Reused per call: thread lists, a visited stamp per pc and an explicit stack.
  private clist: Int32Array
  private nlist: Int32Array
  private readonly mark: Int32Array
  private readonly stack: Int32Array
  private gen = 0

  constructor(readonly source: string) {
    if (source.length > MAX_PATTERN_LENGTH) {
      throw new RegexPatternError(`pattern longer than ${MAX_PATTERN_LENGTH} characters`)
    }
    const ast = new Parser(source).parse()
    const compiler = new Compiler()
    compiler.compile(ast)
    compiler.op.push(OP_MATCH)
    compiler.a.push(0)
    compiler.b.push(0)
    const size = compiler.op.length
    this.op = Int32Array.from(compiler.op)
    this.a = Int32Array.from(compiler.a)
    this.b = Int32Array.from(compiler.b)
    this.classes = compiler.classes
    this.anchoredStart = startsAnchored(ast)
    this.literal = literalOf(ast)
    this.clist = new Int32Array(size)
    this.nlist = new Int32Array(size)
    this.mark = new Int32Array(size)
    // Each pc is pushed at most twice per closure (once per incoming edge of a split).
    this.stack = new Int32Array(size * 2 + 2)
  }

  /** Whether the pattern matches anywhere in `input` (RegExp.prototype.test semantics). */
  test(input: string): boolean {
    if (this.literal !== undefined) return input.includes(this.literal)
    const n = input.length
    let ccount = this.add(this.clist, 0, 0, input)
    if (ccount < 0) return true
    for (let pos = 0; pos < n; pos++) {
      if (ccount === 0 && this.anchoredStart) return false
      const c = input.charCodeAt(pos)
      this.gen++
      const clist = this.clist
      const nlist = this.nlist
      let ncount = 0
      for (let i = 0; i < ccount; i++) {
        const pc = clist[i]!
        const op = this.op[pc]!
        let ok: boolean
        if (op === OP_CHAR) ok = this.a[pc] === c
        else if (op === OP_ANY) ok = c !== 0x0a && c !== 0x0d && c !== 0x2028 && c !== 0x2029
        else {
          const cls = this.classes[this.a[pc]!]!
          ok = inRanges(cls.ranges, c) !== cls.negated
        }
        if (ok) {
          const added = this.addInto(nlist, ncount, pc + 1, pos + 1, input)
          if (added < 0) return true
          ncount = added
        }
      }
      if (!this.anchoredStart) {
        const added = this.addInto(nlist, ncount, 0, pos + 1, input)
        if (added < 0) return true
        ncount = added
      }
      this.clist = nlist
      this.nlist = clist
      ccount = ncount
    }
    return false
  }

  private add(list: Int32Array, pc: number, pos: number, input: string): number {
    this.gen++
    return this.addInto(list, 0, pc, pos, input)
  }

  /**
   * Adds the epsilon closure of `pc` at `pos` to `list` (which holds `count` threads stamped with
   * the current generation). Returns the new count, or -1 when MATCH is reachable.
   */
  private addInto(list: Int32Array, count: number, pc0: number, pos: number, input: string): number {
    const { op, a, b, mark, stack } = this
    const gen = this.gen
    let sp = 0
    stack[sp++] = pc0
    while (sp > 0) {
      const pc = stack[--sp]!
      if (mark[pc] === gen) continue
      mark[pc] = gen
      switch (op[pc]) {
        case OP_JMP:
          stack[sp++] = a[pc]!
          break
        case OP_SPLIT:
          // Push b first so a is explored first (order does not matter for a yes/no answer).
          stack[sp++] = b[pc]!
          stack[sp++] = a[pc]!
          break
        case OP_ASSERT:
          if (assertHolds(a[pc]!, input, pos)) stack[sp++] = pc + 1
          break
        case OP_MATCH:
          return -1
        default:
          list[count++] = pc
      }
    }
    return count
  }
}

function assertHolds(kind: number, input: string, pos: number): boolean {
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

function startsAnchored(node: Node): boolean {
  if (node.t === 'assert') return node.kind === AssertKind.Start
  if (node.t === 'cat') return node.items.length > 0 && startsAnchored(node.items[0]!)
  if (node.t === 'alt') return node.items.every(startsAnchored)
  return false
}

function literalOf(node: Node): string | undefined {
  if (node.t === 'char') return String.fromCharCode(node.c)
  if (node.t === 'cat' && node.items.every((n) => n.t === 'char')) {
    return node.items.map((n) => String.fromCharCode((n as { c: number }).c)).join('')
  }
  return undefined
}

const cache = new Map<string, SafeRegex>()
const CACHE_LIMIT = 1000

/**
 * The compiled form of a pattern, from a process-wide cache (so a pattern shared by many flags or
 * snapshots compiles once). Throws `RegexPatternError` for a rejected pattern.
 */
export function compileSafeRegex(pattern: string): SafeRegex {
  let re = cache.get(pattern)
  if (re === undefined) {
    re = new SafeRegex(pattern)
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!)
    cache.set(pattern, re)
  }
  return re
}

/** Why a pattern is rejected, or undefined when it is accepted. */
export function checkSafePattern(pattern: string): string | undefined {
  try {
    compileSafeRegex(pattern)
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : 'invalid pattern'
  }
}

/** What one test of `pattern` costs per input character, in NFA states (1 for plain text, which `includes` answers). */
export function patternCost(pattern: string): number {
  const re = compileSafeRegex(pattern) as unknown as { literal: string | undefined; op: Int32Array }
  return re.literal !== undefined ? 1 : re.op.length
}
