/**
 * IPv4 / IPv6 addresses and CIDR blocks for `in_cidr`, parsed and matched by ipaddr.js. Both are
 * held in the 128-bit form (IPv4 as the IPv4-mapped IPv6 address `::ffff:a.b.c.d`), so one match
 * serves both families and `::ffff:10.1.2.3` falls inside `10.0.0.0/8` as a proxy would expect.
 *
 * What ipaddr.js accepts beyond an address a request can carry is refused before it: IPv4 only in
 * four-part decimal without leading zeros (`010.0.0.1` is octal to some parsers, `10.1` and
 * `0x0a.0.0.1` are legacy shorthands), and no IPv6 zone ids (`fe80::1%eth0` names an interface,
 * not a client).
 */
import ipaddr from 'ipaddr.js'

type IPv6 = ipaddr.IPv6

export interface CidrBlock {
  /** The block's network address, in the 128-bit form. */
  readonly network: IPv6
  /** Prefix length on the 128-bit form (an IPv4 /8 is 104). */
  readonly bits: number
}

/** Longer text is no address (the longest IPv6 form with an embedded IPv4 is 45 characters). */
const MAX_ADDRESS_LENGTH = 64

/** The address in the 128-bit form, or undefined when `text` is no IPv4 / IPv6 address. */
export function parseIp(text: string): IPv6 | undefined {
  if (text.length > MAX_ADDRESS_LENGTH) return undefined
  if (!text.includes(':')) {
    return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text).toIPv4MappedAddress() : undefined
  }
  if (text.includes('%') || !ipaddr.IPv6.isValid(text)) return undefined
  const colon = text.lastIndexOf(':')
  if (text.includes('.', colon)) {
    // An embedded IPv4 part (`::ffff:1.2.3.4`) obeys the IPv4 rule too.
    const v4 = text.slice(colon + 1)
    if (!ipaddr.IPv4.isValidFourPartDecimal(v4)) return undefined
    // ipaddr.js reads the (deprecated) IPv4-compatible `::1.2.3.4` as the mapped `::ffff:1.2.3.4`;
    // they are different addresses, and `::1.2.3.4` has never been inside an IPv4 block here.
    if (colon === 1) {
      const [a, b, c, d] = ipaddr.IPv4.parse(v4).octets as [number, number, number, number]
      return new ipaddr.IPv6([0, 0, 0, 0, 0, 0, (a << 8) | b, (c << 8) | d])
    }
  }
  return ipaddr.IPv6.parse(text)
}

/** Parses `a.b.c.d/n` or `x:y::z/n` (a bare address is a /32 or /128); undefined when invalid. */
export function parseCidr(text: string): CidrBlock | undefined {
  const slash = text.indexOf('/')
  const addressText = slash === -1 ? text : text.slice(0, slash)
  const network = parseIp(addressText)
  if (network === undefined) return undefined
  const v4 = !addressText.includes(':')
  const maxBits = v4 ? 32 : 128
  let prefix = maxBits
  if (slash !== -1) {
    const p = text.slice(slash + 1)
    if (!/^\d{1,3}$/.test(p)) return undefined
    prefix = Number(p)
    if (prefix > maxBits) return undefined
  }
  return { network, bits: v4 ? prefix + 96 : prefix }
}

/** Whether the address (already parsed) lies in the block. */
export function cidrContains(block: CidrBlock, address: IPv6): boolean {
  return address.match(block.network, block.bits)
}
