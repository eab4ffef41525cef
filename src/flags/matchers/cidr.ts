/**
 * IPv4 / IPv6 addresses and CIDR blocks for `in_cidr`. Addresses are held as four 32-bit words
 * (IPv4 as the IPv4-mapped IPv6 address `::ffff:a.b.c.d`), so one comparison routine serves both
 * families and `::ffff:10.1.2.3` falls inside `10.0.0.0/8` as a proxy would expect.
 */

export interface CidrBlock {
  readonly words: readonly [number, number, number, number]
  /** Prefix length on the 128-bit form. */
  readonly bits: number
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

function parseIpv4(text: string): number | undefined {
  const m = IPV4.exec(text)
  if (m === null) return undefined
  let value = 0
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!
    // Leading zeros are ambiguous (octal in some parsers): refuse them.
    if (part.length > 1 && part[0] === '0') return undefined
    const n = Number(part)
    if (n > 255) return undefined
    value = value * 256 + n
  }
  return value
}

/** The address as four 32-bit words, or undefined when `text` is no IPv4 / IPv6 address. */
export function parseIp(text: string): [number, number, number, number] | undefined {
  if (text.length > 64) return undefined
  if (!text.includes(':')) {
    const v4 = parseIpv4(text)
    return v4 === undefined ? undefined : [0, 0, 0xffff, v4]
  }
  let head = text
  let tailV4: number | undefined
  const lastColon = text.lastIndexOf(':')
  if (text.indexOf('.', lastColon) !== -1) {
    tailV4 = parseIpv4(text.slice(lastColon + 1))
    if (tailV4 === undefined) return undefined
    head = text.slice(0, lastColon + 1) + '0:0'
  }
  const halves = head.split('::')
  if (halves.length > 2) return undefined
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return []
    const groups = part.split(':')
    const out: number[] = []
    for (const g of groups) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined
      out.push(parseInt(g, 16))
    }
    return out
  }
  const left = parseGroups(halves[0]!)
  const right = halves.length === 2 ? parseGroups(halves[1]!) : []
  if (left === undefined || right === undefined) return undefined
  let groups: number[]
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length
    if (missing < 1) return undefined
    groups = [...left, ...new Array<number>(missing).fill(0), ...right]
  } else {
    groups = left
  }
  if (groups.length !== 8) return undefined
  const words: [number, number, number, number] = [0, 0, 0, 0]
  for (let i = 0; i < 4; i++) words[i] = ((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0
  if (tailV4 !== undefined) words[3] = tailV4
  return words
}

/** Parses `a.b.c.d/n` or `x:y::z/n` (a bare address is a /32 or /128); undefined when invalid. */
export function parseCidr(text: string): CidrBlock | undefined {
  const slash = text.indexOf('/')
  const addressText = slash === -1 ? text : text.slice(0, slash)
  const words = parseIp(addressText)
  if (words === undefined) return undefined
  const v4 = !addressText.includes(':')
  const maxBits = v4 ? 32 : 128
  let prefix = maxBits
  if (slash !== -1) {
    const p = text.slice(slash + 1)
    if (!/^\d{1,3}$/.test(p)) return undefined
    prefix = Number(p)
    if (prefix > maxBits) return undefined
  }
  const bits = v4 ? prefix + 96 : prefix
  return { words: maskWords(words, bits), bits }
}

function maskWords(words: readonly number[], bits: number): [number, number, number, number] {
  const out: [number, number, number, number] = [0, 0, 0, 0]
  for (let i = 0; i < 4; i++) {
    const keep = Math.max(0, Math.min(32, bits - 32 * i))
    const mask = keep === 0 ? 0 : keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0
    out[i] = (words[i]! & mask) >>> 0
  }
  return out
}

/** Whether the address (already parsed) lies in the block. */
export function cidrContains(block: CidrBlock, address: readonly number[]): boolean {
  const masked = maskWords(address, block.bits)
  return (
    masked[0] === block.words[0] && masked[1] === block.words[1] && masked[2] === block.words[2] && masked[3] === block.words[3]
  )
}
