/**
 * The `matches` operator's pattern syntax (see `regex.ts` for what is accepted and why): the limits,
 * the syntax tree and its parser. Parsing rejects what the matcher does not support, so an unsafe
 * or unsupported pattern fails on write with a message naming the problem.
 */
/** Longest pattern accepted. */
export const MAX_PATTERN_LENGTH = 256
/** Largest compiled program (counted repetitions are expanded). */
export const MAX_PROGRAM_SIZE = 512
const MAX_REPEAT = 100

/** Thrown for a pattern that is malformed, unsupported or unsafe; the message says which. */
export class RegexPatternError extends Error {
  override readonly name = 'RegexPatternError'
}

export type Ranges = number[] // flat [lo, hi, lo, hi, ...], inclusive

export type Node =
  | { t: 'char'; c: number }
  | { t: 'class'; ranges: Ranges; negated: boolean }
  | { t: 'any' }
  | { t: 'assert'; kind: AssertKind }
  | { t: 'cat'; items: Node[] }
  | { t: 'alt'; items: Node[] }
  | { t: 'repeat'; node: Node; min: number; max: number } // max -1 = unbounded
  | { t: 'empty' }

export const AssertKind = { Start: 0, End: 1, WordBoundary: 2, NotWordBoundary: 3 } as const
export type AssertKind = (typeof AssertKind)[keyof typeof AssertKind]

const DIGIT: Ranges = [0x30, 0x39]
const WORD: Ranges = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a]
// JS \s: WhiteSpace and LineTerminator.
const SPACE: Ranges = [
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000,
  0x3000, 0xfeff, 0xfeff,
]

function negate(ranges: Ranges): Ranges {
  const sorted = normalise(ranges)
  const out: Ranges = []
  let next = 0
  for (let i = 0; i < sorted.length; i += 2) {
    if (sorted[i]! > next) out.push(next, sorted[i]! - 1)
    next = sorted[i + 1]! + 1
  }
  if (next <= 0xffff) out.push(next, 0xffff)
  return out
}

function normalise(ranges: Ranges): Ranges {
  const pairs: [number, number][] = []
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!])
  pairs.sort((a, b) => a[0] - b[0])
  const out: Ranges = []
  for (const [lo, hi] of pairs) {
    const last = out.length - 1
    if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi)
    else out.push(lo, hi)
  }
  return out
}

export class Parser {
  private pos = 0
  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.alternation()
    if (this.pos < this.src.length) this.fail(`unmatched ")" at ${this.pos}`)
    return node
  }

  private fail(message: string): never {
    throw new RegexPatternError(message)
  }

  private peek(): string | undefined {
    return this.src[this.pos]
  }

  private alternation(): Node {
    const items = [this.sequence()]
    while (this.peek() === '|') {
      this.pos++
      items.push(this.sequence())
    }
    return items.length === 1 ? items[0]! : { t: 'alt', items }
  }

  private sequence(): Node {
    const items: Node[] = []
    while (this.pos < this.src.length) {
      const ch = this.peek()
      if (ch === '|' || ch === ')') break
      const atom = this.atom()
      items.push(this.quantified(atom))
    }
    if (items.length === 0) return { t: 'empty' }
    return items.length === 1 ? items[0]! : { t: 'cat', items }
  }

  private quantified(atom: Node): Node {
    const start = this.pos
    const ch = this.peek()
    let min: number
    let max: number
    if (ch === '*') {
      min = 0
      max = -1
      this.pos++
    } else if (ch === '+') {
      min = 1
      max = -1
      this.pos++
    } else if (ch === '?') {
      min = 0
      max = 1
      this.pos++
    } else if (ch === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos))
      if (m === null) return atom // JavaScript (Annex B) reads a brace that is no quantifier literally
      min = Number(m[1])
      max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3])
      if (min > MAX_REPEAT || max > MAX_REPEAT) this.fail(`repetition count above ${MAX_REPEAT}`)
      if (max !== -1 && max < min) this.fail(`numbers out of order in {${min},${max}}`)
      this.pos += m[0].length
    } else {
      return atom
    }
    if (this.peek() === '?') this.pos++ // lazy: same language
    if (atom.t === 'assert') this.fail(`nothing to repeat at ${start}`)
    if (atom.t === 'repeat' || (atom.t !== 'char' && atom.t !== 'class' && atom.t !== 'any' && containsRepeat(atom))) {
      this.fail(`nested quantifier at ${start}`)
    }
    const next = this.peek()
    if (next === '*' || next === '+' || next === '?' || (next === '{' && /^\{\d+(,\d*)?\}/.test(this.src.slice(this.pos)))) {
      this.fail(`nothing to repeat at ${this.pos}`)
    }
    return { t: 'repeat', node: atom, min, max }
  }

  private atom(): Node {
    const ch = this.src[this.pos++]!
    switch (ch) {
      case '.':
        return { t: 'any' }
      case '^':
        return { t: 'assert', kind: AssertKind.Start }
      case '$':
        return { t: 'assert', kind: AssertKind.End }
      case '(':
        return this.group()
      case '[':
        return this.charClass()
      case '\\':
        return this.escape(false)
      case '*':
      case '+':
      case '?':
        return this.fail(`nothing to repeat at ${this.pos - 1}`)
      default:
        return { t: 'char', c: ch.charCodeAt(0) }
    }
  }

  private group(): Node {
    if (this.peek() === '?') {
      const rest = this.src.slice(this.pos, this.pos + 3)
      if (rest.startsWith('?:')) {
        this.pos += 2
      } else if (rest.startsWith('?=') || rest.startsWith('?!') || rest.startsWith('?<=') || rest.startsWith('?<!')) {
        this.fail('lookaround assertions are not supported')
      } else if (rest.startsWith('?<')) {
        const m = /^\?<([A-Za-z_$][A-Za-z0-9_$]*)>/.exec(this.src.slice(this.pos))
        if (m === null) this.fail(`invalid group name at ${this.pos}`)
        this.pos += m[0].length
      } else {
        this.fail(`invalid group at ${this.pos - 1}`)
      }
    }
    const inner = this.alternation()
    if (this.peek() !== ')') this.fail('unterminated group')
    this.pos++
    return inner
  }

  private charClass(): Node {
    let negated = false
    if (this.peek() === '^') {
      negated = true
      this.pos++
    }
    const ranges: Ranges = []
    let first = true
    while (true) {
      if (this.pos >= this.src.length) this.fail('unterminated character class')
      const ch = this.src[this.pos]!
      if (ch === ']' && !first) break
      if (ch === ']' && first) {
        // `[]` matches nothing and `[^]` everything in JavaScript.
        break
      }
      first = false
      const lo = this.classAtom()
      if (this.peek() === '-' && this.src[this.pos + 1] !== ']' && this.pos + 1 < this.src.length) {
        this.pos++
        const hi = this.classAtom()
        if (typeof lo !== 'number' || typeof hi !== 'number') this.fail('invalid range in character class')
        if (hi < lo) this.fail('range out of order in character class')
        ranges.push(lo, hi)
      } else if (typeof lo === 'number') {
        ranges.push(lo, lo)
      } else {
        ranges.push(...lo)
      }
    }
    this.pos++ // ']'
    return { t: 'class', ranges: normalise(ranges), negated }
  }

  /** A code unit, or a set for `\d`-style escapes. */
  private classAtom(): number | Ranges {
    const ch = this.src[this.pos++]!
    if (ch !== '\\') return ch.charCodeAt(0)
    if (this.peek() === 'b') {
      this.pos++
      return 0x08 // backspace inside a class
    }
    const node = this.escape(true)
    if (node.t === 'char') return node.c
    if (node.t === 'class') return node.negated ? negate(node.ranges) : node.ranges
    return this.fail('invalid escape in character class')
  }

  private escape(inClass: boolean): Node {
    const ch = this.src[this.pos++]
    if (ch === undefined) this.fail('pattern ends with a backslash')
    switch (ch) {
      case 'd':
        return { t: 'class', ranges: DIGIT, negated: false }
      case 'D':
        return { t: 'class', ranges: DIGIT, negated: true }
      case 'w':
        return { t: 'class', ranges: WORD, negated: false }
      case 'W':
        return { t: 'class', ranges: WORD, negated: true }
      case 's':
        return { t: 'class', ranges: SPACE, negated: false }
      case 'S':
        return { t: 'class', ranges: SPACE, negated: true }
      case 'b':
        return { t: 'assert', kind: AssertKind.WordBoundary }
      case 'B':
        if (inClass) this.fail('\\B is invalid in a character class')
        return { t: 'assert', kind: AssertKind.NotWordBoundary }
      case 't':
        return { t: 'char', c: 0x09 }
      case 'n':
        return { t: 'char', c: 0x0a }
      case 'r':
        return { t: 'char', c: 0x0d }
      case 'f':
        return { t: 'char', c: 0x0c }
      case 'v':
        return { t: 'char', c: 0x0b }
      case '0':
        if (/[0-9]/.test(this.peek() ?? '')) this.fail('octal escapes are not supported')
        return { t: 'char', c: 0 }
      case 'x': {
        const m = /^[0-9A-Fa-f]{2}/.exec(this.src.slice(this.pos))
        if (m === null) this.fail('invalid \\x escape')
        this.pos += 2
        return { t: 'char', c: parseInt(m[0], 16) }
      }
      case 'u': {
        const m = /^[0-9A-Fa-f]{4}/.exec(this.src.slice(this.pos))
        if (m === null) this.fail('invalid \\u escape')
        this.pos += 4
        return { t: 'char', c: parseInt(m[0], 16) }
      }
      case 'k':
        return this.fail('backreferences are not supported')
      default:
        if (/[1-9]/.test(ch)) this.fail('backreferences are not supported')
        // Letters and digits other than the above mean different things with and without the
        // `u` flag (or nothing at all): refuse rather than guess. Punctuation is itself.
        if (/[A-Za-z0-9]/.test(ch)) this.fail(`unsupported escape \\${ch}`)
        return { t: 'char', c: ch.charCodeAt(0) }
    }
  }
}

export function containsRepeat(node: Node): boolean {
  switch (node.t) {
    case 'repeat':
      return true
    case 'cat':
    case 'alt':
      return node.items.some(containsRepeat)
    default:
      return false
  }
}
