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
 *
 * Since then the simulation caches each epsilon closure per (pc, anchor state) instead of walking
 * splits per thread and character, and a program of at most 32 instructions (every pattern the
 * write-time budget accepts) runs on 32-bit thread sets: on 1 KiB of `a`, 0.7-1.1 µs per state
 * against 6-15 µs before (`a?a?…b`, `(a|aa)*`, `.*.*.*x`; same run, alternating), which took the
 * worst accepted flag from 0.89 ms to 0.12 ms.
 */
import {
  assertHolds,
  Compiler,
  inRanges,
  literalOf,
  OP_ANY,
  OP_ASSERT,
  OP_CHAR,
  OP_CLASS,
  OP_JMP,
  OP_MATCH,
  OP_SPLIT,
  startsAnchored,
} from './regex-program.js'
import { AssertKind, MAX_PATTERN_LENGTH, Parser, type Ranges, RegexPatternError } from './regex-syntax.js'

export { MAX_PATTERN_LENGTH, RegexPatternError }

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
  /** Closure lists by `pc * 4 + flags` (see `closure`); undefined when the pattern has `\b` / `\B`. */
  private readonly closures: Array<Int32Array | undefined> | undefined
  /** For programs of at most 32 instructions, see `testBits`. */
  private readonly masks: Int32Array | undefined
  private readonly matchAt: Uint8Array | undefined
  private readonly ascii: Int32Array | undefined

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
    const boundaries = compiler.op.some((op, pc) => op === OP_ASSERT && compiler.a[pc]! >= AssertKind.WordBoundary)
    this.closures = boundaries ? undefined : new Array<Int32Array | undefined>(size * 4)
    if (this.closures !== undefined && size <= 32) {
      this.masks = new Int32Array(size * 4)
      this.matchAt = new Uint8Array(size * 4)
      for (let pc = 0; pc < size; pc++) {
        for (let flags = 0; flags < 4; flags++) {
          for (const q of this.closure(pc, flags)) {
            if (q < 0) this.matchAt[pc * 4 + flags] = 1
            else this.masks[pc * 4 + flags]! |= 1 << q
          }
        }
      }
      this.ascii = new Int32Array(128)
      for (let c = 0; c < 128; c++) {
        for (let pc = 0; pc < size; pc++) if (this.accepts(pc, c)) this.ascii[c]! |= 1 << pc
      }
    }
  }

  /** Whether the pattern matches anywhere in `input` (RegExp.prototype.test semantics). */
  test(input: string): boolean {
    if (this.literal !== undefined) return input.includes(this.literal)
    if (this.closures === undefined) return this.testWalking(input)
    return this.masks === undefined ? this.testCached(input) : this.testBits(input)
  }

  /**
   * For a program of at most 32 instructions (every pattern the write-time budget accepts): the
   * thread set is one 32-bit mask, `masks[pc * 4 + flags]` the closure as a mask (bit 31 spare:
   * MATCH is `matchAt`), `ascii[c]` the instructions that accept character `c` < 128. A step is
   * then one AND plus one OR per thread that survives it, about 3x the list walk on `a?a?…`.
   */
  private testBits(input: string): boolean {
    const n = input.length
    const masks = this.masks!
    const matchAt = this.matchAt!
    const ascii = this.ascii!
    const anchoredStart = this.anchoredStart
    const start = n === 0 ? 3 : 1
    if (matchAt[start] === 1) return true
    let set = masks[start]!
    for (let pos = 0; pos < n; pos++) {
      if (set === 0 && anchoredStart) return false
      const c = input.charCodeAt(pos)
      const flags = pos + 1 === n ? 2 : 0
      let live = set & (c < 128 ? ascii[c]! : this.accepting(c, set))
      let next = 0
      while (live !== 0) {
        const low = live & -live
        live ^= low
        const at = (32 - Math.clz32(low)) * 4 + flags // (pc + 1) * 4 + flags
        if (matchAt[at] === 1) return true
        next |= masks[at]!
      }
      if (!anchoredStart) {
        if (matchAt[flags] === 1) return true
        next |= masks[flags]!
      }
      set = next
    }
    return false
  }

  /** The instructions among `set` that accept `c` (for characters past ASCII, not tabled). */
  private accepting(c: number, set: number): number {
    let out = 0
    for (let rest = set; rest !== 0;) {
      const low = rest & -rest
      rest ^= low
      if (this.accepts(31 - Math.clz32(low), c)) out |= low
    }
    return out
  }

  private accepts(pc: number, c: number): boolean {
    const kind = this.op[pc]!
    if (kind === OP_CHAR) return this.a[pc] === c
    if (kind === OP_ANY) return c !== 0x0a && c !== 0x0d && c !== 0x2028 && c !== 0x2029
    if (kind !== OP_CLASS) return false
    const cls = this.classes[this.a[pc]!]!
    return inRanges(cls.ranges, c) !== cls.negated
  }

  /**
   * The epsilon closure of `pc` where `^` holds iff `flags & 1` and `$` iff `flags & 2` (the only
   * assertions a pattern without `\b` / `\B` has): the consuming pcs reachable, with MATCH as -1.
   * Computed on first use and kept: the walk over splits and jumps then happens once per pattern
   * rather than once per thread and input character (2-3x faster on the worst accepted flag).
   */
  private closure(pc: number, flags: number): Int32Array {
    const { op, a, b, stack } = this
    // Its own visited set: it runs in the middle of `testCached`, whose marks must survive.
    const mark = new Uint8Array(op.length)
    const gen = 1
    const out: number[] = []
    let sp = 0
    stack[sp++] = pc
    while (sp > 0) {
      const at = stack[--sp]!
      if (mark[at] === gen) continue
      mark[at] = gen
      switch (op[at]) {
        case OP_JMP:
          stack[sp++] = a[at]!
          break
        case OP_SPLIT:
          stack[sp++] = b[at]!
          stack[sp++] = a[at]!
          break
        case OP_ASSERT:
          if ((a[at] === AssertKind.Start ? flags & 1 : flags & 2) !== 0) stack[sp++] = at + 1
          break
        case OP_MATCH:
          out.push(-1)
          break
        default:
          out.push(at)
      }
    }
    const list = Int32Array.from(out)
    this.closures![pc * 4 + flags] = list
    return list
  }

  /** `testWalking` with the closures from `closure()`; same answers. */
  private testCached(input: string): boolean {
    const n = input.length
    const { op, a, classes, mark, anchoredStart } = this
    const closures = this.closures!
    let clist = this.clist
    let nlist = this.nlist
    let gen = ++this.gen
    let ccount = 0
    const first = closures[n === 0 ? 3 : 1] ?? this.closure(0, n === 0 ? 3 : 1)
    for (let k = 0; k < first.length; k++) {
      const q = first[k]!
      if (q < 0) return true
      if (mark[q] !== gen) {
        mark[q] = gen
        clist[ccount++] = q
      }
    }
    for (let pos = 0; pos < n; pos++) {
      if (ccount === 0 && anchoredStart) return false
      const c = input.charCodeAt(pos)
      const flags = pos + 1 === n ? 2 : 0
      gen = ++this.gen
      let ncount = 0
      for (let i = 0; i < ccount; i++) {
        const pc = clist[i]!
        const kind = op[pc]!
        let ok: boolean
        if (kind === OP_CHAR) ok = a[pc] === c
        else if (kind === OP_ANY) ok = c !== 0x0a && c !== 0x0d && c !== 0x2028 && c !== 0x2029
        else {
          const cls = classes[a[pc]!]!
          ok = inRanges(cls.ranges, c) !== cls.negated
        }
        if (!ok) continue
        const next = closures[(pc + 1) * 4 + flags] ?? this.closure(pc + 1, flags)
        for (let k = 0; k < next.length; k++) {
          const q = next[k]!
          if (q < 0) return true
          if (mark[q] !== gen) {
            mark[q] = gen
            nlist[ncount++] = q
          }
        }
      }
      if (!anchoredStart) {
        const seed = closures[flags] ?? this.closure(0, flags)
        for (let k = 0; k < seed.length; k++) {
          const q = seed[k]!
          if (q < 0) return true
          if (mark[q] !== gen) {
            mark[q] = gen
            nlist[ncount++] = q
          }
        }
      }
      const swap = clist
      clist = nlist
      nlist = swap
      ccount = ncount
    }
    return false
  }

  /** The plain Pike simulation, for patterns with `\b` / `\B` (their closures depend on the characters around). */
  private testWalking(input: string): boolean {
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
