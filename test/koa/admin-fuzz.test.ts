/**
 * 2,000 generated malformed or hostile bodies against every admin route that takes a body: each
 * answers a 4xx JSON error (never a 5xx), nothing in the repository changes (snapshot and revision
 * compared), nothing is audited, and `Object.prototype` is not polluted.
 *
 * Cases come from a seeded PRNG (`FUZZ_SEED` to replay another run): a route's valid template
 * (proved valid by the first test) broken in one way — a wrong content type, invalid JSON or
 * UTF-8, a wrong top-level type, deep nesting (up to 10,000 levels), prototype-pollution keys,
 * huge strings (within and beyond maxBodyBytes), unknown fields, a route-specific wrong value,
 * NaN/Infinity-like numbers, unknown operators, rejected `matches` patterns, unknown time zones,
 * segment / environment cycles, or a malformed / stale If-Match.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreFlagRepository } from '../../src/flags/repositories/store-repository.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { type Admin, type ApiResponse, expectJsonError, normalise, prng, startAdmin } from './admin-helpers.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_121)
const CASES = 2000
const MAX_BODY = 256 * 1024

type Path = ReadonlyArray<string | number>
type Json = unknown

interface RouteSpec {
  readonly name: string
  readonly method: 'POST' | 'PUT' | 'PATCH'
  readonly path: string
  readonly template: Json
  /** Headers that make the template a valid request (If-Match for a PUT of a flag). */
  readonly headers?: Record<string, string>
  /** Whether the route honours If-Match (flag documents and their parts). */
  readonly versioned?: boolean
  /** Route-specific breakages: a field and values that are certainly invalid there. */
  readonly mutations: ReadonlyArray<readonly [Path, readonly Json[]]>
}

const AT = '2030-01-01T00:00:00Z'
const BAD_TIME_ZONES = ['Mars/Olympus_Mons', 'UTC+25', '', 'Europe/Osloo', 'America/Atlantis', 'x'.repeat(70), 42, 'Etc/GMT+99']
const BAD_OPERATORS = [
  'equals',
  'EQ',
  '',
  'regex',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'x'.repeat(100),
  42,
  null,
  ['eq'],
  { op: 'eq' },
]
const BAD_PATTERNS = [
  '(',
  ')',
  '[z-a]',
  '(a+)+$',
  '(a*)*b',
  '((a+))+',
  '(?=x)',
  '(?!x)',
  '(?<=x)y',
  '(a)\\1',
  'x'.repeat(300),
  'a{1000}',
  '*',
  'a**',
  '\\',
  'a{2,1}',
  42,
  ['a'],
  '(.*a){20}',
]
const NUMBER_LIKE = ['NaN', 'Infinity', '-Infinity', '1e999', '0x10', '', '50%', ' 5', '5.5.5']
const WRONG_CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json; charset=iso-8859-1',
  'application/jsonx',
  'json',
  'text/json',
]
const INVALID_JSON = [
  '{',
  '{"a":1,}',
  "{'a':1}",
  'NaN',
  '{"a":NaN}',
  '{"a":Infinity}',
  'undefined',
  '{"a":1}//c',
  '\uFEFF\uFEFF{}',
  '{"a":"\\x"}',
  '[1,2',
  '"unterminated',
  '{"a":1}{"b":2}',
  'nul',
  '01',
  '{"a":01}',
  '',
  '   ',
  '{"a":-}',
  '{a:1}',
  '{"a":1e}',
  '\u0000',
]
const DEEP = [33, 40, 63, 64, 65, 200, 1000, 10_000]

const flagDocument = (key: string) => ({
  key,
  name: 'Fresh',
  description: 'a flag',
  type: 'string',
  status: 'active',
  defaultValue: 'x',
  tags: ['a'],
  metadata: { team: 'web', nested: { level: 1 } },
  rules: [
    {
      id: 'r1',
      name: 'R',
      priority: 0,
      enabled: true,
      conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }],
      serveEnabled: true,
      serveValue: 'y',
      rolloutPercentage: 50,
    },
  ],
  variants: [{ key: 'a', value: 'A', weight: 1 }],
  scheduledChanges: [{ id: 's1', at: AT, change: 'setValue', value: 'z' }],
  rolloutPhases: [{ at: AT, percentage: 10 }],
  timeSchedules: [{ id: 't1', recurrence: 'weekly', start: '09:00', end: '17:00', daysOfWeek: [1, 2], timezone: 'Europe/Oslo' }],
})

const FLAG_MUTATIONS: RouteSpec['mutations'] = [
  [['key'], [42, '', 'bad key', '-x', 'x'.repeat(129), 'a/b', true, []]],
  [['type'], ['bool', 42, 'String', '', {}]],
  [['status'], ['on', 1, 'ARCHIVED', []]],
  [['name'], [42, 'x'.repeat(257), [], {}]],
  [['description'], [42, 'x'.repeat(4097)]],
  [['defaultValue'], [42, true, {}, ['x']]],
  [['defaultEnabled'], ['yes', 1]],
  [['tags'], ['a', [1], [''], Array(101).fill('t'), ['x'.repeat(129)]]],
  [['metadata'], [[], 'x', 5, true]],
  [['rules'], [{}, [{}], [{ id: 'a' }, { id: 'a' }], 'rules', [null]]],
  [
    ['rules', 0, 'priority'],
    ['1', null, true],
  ],
  [
    ['rules', 0, 'enabled'],
    ['yes', 0],
  ],
  [
    ['rules', 0, 'rolloutPercentage'],
    [101, -1, '50'],
  ],
  [
    ['rules', 0, 'serveValue'],
    [5, false, {}],
  ],
  [
    ['rules', 0, 'id'],
    ['', 'bad id', '../x', 42],
  ],
  [
    ['rules', 0, 'conditions'],
    [
      {},
      'c',
      [null],
      [{ attribute: 'a', operator: 'in', value: 'notarray' }],
      [{ attribute: '', operator: 'eq', value: 1 }],
      [{ attribute: '__proto__', operator: 'eq', value: 1 }],
    ],
  ],
  [
    ['rules', 0, 'conditions', 0, 'value'],
    [{}, [[1]]],
  ],
  [
    ['variants'],
    [
      {},
      [
        { key: 'a', value: 'A', weight: 1 },
        { key: 'a', value: 'B', weight: 1 },
      ],
    ],
  ],
  [
    ['variants', 0, 'weight'],
    [-1, '1', null],
  ],
  [
    ['variants', 0, 'value'],
    [1, true, null],
  ],
  [
    ['variants', 0, 'key'],
    ['bad key', '', 7],
  ],
  [
    ['scheduledChanges', 0, 'at'],
    ['not a date', '2030-13-01', true, {}],
  ],
  [
    ['scheduledChanges', 0, 'change'],
    ['explode', 'ENABLE', 1],
  ],
  [
    ['scheduledChanges', 0, 'value'],
    [5, false],
  ],
  [['scheduledChanges', 0, 'percentage'], [10]],
  [
    ['rolloutPhases', 0, 'percentage'],
    [101, -0.5, '10'],
  ],
  [
    ['rolloutPhases', 0, 'at'],
    ['soon', false],
  ],
  [
    ['rolloutPhases'],
    [
      [
        { at: AT, percentage: 1 },
        { at: AT, percentage: 2 },
      ],
    ],
  ],
  [['timeSchedules', 0, 'timezone'], BAD_TIME_ZONES],
  [
    ['timeSchedules', 0, 'start'],
    ['24:00', '9:00', '09:60', 900],
  ],
  [
    ['timeSchedules', 0, 'recurrence'],
    ['hourly', 'cron', ''],
  ],
  [
    ['timeSchedules', 0, 'daysOfWeek'],
    [[0], [8], [], [1, 1], 'mon'],
  ],
  [['timeSchedules', 0, 'cron'], ['* * * * *']],
]

/** `mutations` re-rooted at `prefix` (a flag's `rules[0]` → a rule body). */
function under(prefix: Path, mutations: RouteSpec['mutations']): RouteSpec['mutations'] {
  return mutations
    .filter(([path]) => prefix.every((p, i) => path[i] === p) && path.length > prefix.length)
    .map(([path, values]) => [path.slice(prefix.length), values] as const)
}

const { key: _key, type: _type, ...patchTemplate } = flagDocument('banner')

const ROUTES: readonly RouteSpec[] = [
  { name: 'create flag', method: 'POST', path: '/flags', template: flagDocument('fresh-flag'), mutations: FLAG_MUTATIONS },
  {
    name: 'replace flag',
    method: 'PUT',
    path: '/flags/banner',
    template: flagDocument('banner'),
    headers: { 'if-match': '*' },
    versioned: true,
    mutations: FLAG_MUTATIONS,
  },
  {
    name: 'patch flag',
    method: 'PATCH',
    path: '/flags/banner',
    template: patchTemplate,
    versioned: true,
    mutations: FLAG_MUTATIONS.filter(([path]) => path[0] !== 'key' && path[0] !== 'type'),
  },
  {
    name: 'add rule',
    method: 'POST',
    path: '/flags/checkout/rules',
    template: {
      id: 'fresh-rule',
      name: 'R',
      priority: 5,
      enabled: true,
      conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }],
      serveEnabled: true,
      rolloutPercentage: 20,
    },
    versioned: true,
    mutations: [
      ...under(['rules', 0], FLAG_MUTATIONS).filter(([path]) => path[0] !== 'serveValue'),
      [['serveValue'], ['x', 1]],
      [['id'], ['r1']],
      [['serveEnabled'], ['true']],
    ],
  },
  {
    name: 'replace rule',
    method: 'PUT',
    path: '/flags/checkout/rules/r1',
    template: {
      name: 'R',
      enabled: true,
      conditions: [{ attribute: 'plan', operator: 'in', value: ['pro'] }],
      serveEnabled: false,
    },
    versioned: true,
    mutations: [
      ...under(['rules', 0], FLAG_MUTATIONS).filter(([path]) => path[0] !== 'serveValue' && path[0] !== 'id'),
      [['id'], ['r2', 42]],
      [['serveValue'], [true, 'no']],
    ],
  },
  {
    name: 'reorder rules',
    method: 'POST',
    path: '/flags/checkout/rules/reorder',
    template: { ids: ['r2', 'r1'] },
    versioned: true,
    mutations: [
      [['ids'], ['r1', ['r1', 'r1'], ['nope'], [], [1], ['r1'], ['r1', 'r2', 'r3'], null, { 0: 'r1' }]],
      [['extra'], [true]],
    ],
  },
  {
    name: 'replace variants',
    method: 'PUT',
    path: '/flags/banner/variants',
    template: [
      { key: 'a', value: 'A', weight: 1 },
      { key: 'b', value: 'B', weight: 3 },
    ],
    versioned: true,
    mutations: [...under(['variants'], FLAG_MUTATIONS), [[1, 'key'], ['a']], [[2], ['c', 7, null]]],
  },
  {
    name: 'add variant',
    method: 'POST',
    path: '/flags/banner/variants',
    template: { key: 'c', name: 'C', value: 'C', weight: 1 },
    versioned: true,
    mutations: [...under(['variants', 0], FLAG_MUTATIONS), [['key'], ['a', 'b']], [['name'], [5]]],
  },
  {
    name: 'upsert variant',
    method: 'PUT',
    path: '/flags/banner/variants/a',
    template: { value: 'A2', weight: 2 },
    versioned: true,
    mutations: [...under(['variants', 0], FLAG_MUTATIONS).filter(([path]) => path[0] !== 'key'), [['key'], ['b', 5]]],
  },
  {
    name: 'add scheduled change',
    method: 'POST',
    path: '/flags/checkout/schedule',
    template: { id: 'fresh-change', at: AT, change: 'enable', createdBy: 'me' },
    versioned: true,
    mutations: [
      [['at'], ['not a date', '2030-13-01', true, {}, '']],
      [['change'], ['explode', 'setValue', 'setRollout', 'ENABLE', 1]],
      [['value'], ['x', true]],
      [['percentage'], [10, 'NaN']],
      [['id'], ['bad id', '', 42]],
      [['createdBy'], [42, 'x'.repeat(257)]],
    ],
  },
  {
    name: 'replace rollout phases',
    method: 'PUT',
    path: '/flags/checkout/rollout-phases',
    template: [{ at: AT, percentage: 10 }],
    versioned: true,
    mutations: under(['rolloutPhases'], FLAG_MUTATIONS),
  },
  {
    name: 'replace time schedules',
    method: 'PUT',
    path: '/flags/checkout/time-schedules',
    template: flagDocument('x').timeSchedules,
    versioned: true,
    mutations: under(['timeSchedules'], FLAG_MUTATIONS),
  },
  {
    name: 'set override',
    method: 'PUT',
    path: '/flags/banner/overrides/user/fresh-user',
    template: { enabled: true, value: 'v', expiresAt: '2099-01-01T00:00:00Z' },
    mutations: [
      [['enabled'], ['yes', 1, null]],
      [['value'], [5, true, {}]],
      [['expiresAt'], ['soon', '2000-01-01T00:00:00Z', true]],
      [['entityId'], ['other', 5]],
      [['entityType'], ['organization']],
      [['flagKey'], ['checkout']],
      [['extra'], [1]],
    ],
  },
  {
    name: 'create segment',
    method: 'POST',
    path: '/segments',
    template: {
      key: 'fresh-seg',
      name: 'S',
      description: 'd',
      conditions: [{ attribute: 'plan', operator: 'eq', value: 'pro' }],
      parent: 'staff',
    },
    mutations: [
      [['key'], ['bad key', 'staff', '', 42]],
      [['parent'], ['nope', 'fresh-seg', 42]],
      [
        ['conditions'],
        [
          [{ attribute: '', operator: 'in_segment', value: 'fresh-seg' }],
          {},
          [{ attribute: 'a', operator: 'in_segment', value: 'bad key' }],
        ],
      ],
      [
        ['conditions', 0, 'value'],
        [{}, [[]]],
      ],
      [['name'], [1]],
    ],
  },
  {
    name: 'replace segment',
    method: 'PUT',
    path: '/segments/staff',
    template: { name: 'Staff', conditions: [{ attribute: 'email', operator: 'ends_with', value: '@example.com' }] },
    mutations: [
      [['parent'], ['beta', 'staff', 'nope']],
      [
        ['conditions'],
        [
          [{ attribute: '', operator: 'in_segment', value: 'beta' }],
          [{ attribute: '', operator: 'not_in_segment', value: 'staff' }],
        ],
      ],
      [['key'], ['beta', 'other']],
    ],
  },
  {
    name: 'create environment',
    method: 'POST',
    path: '/environments',
    template: { slug: 'fresh-env', name: 'E', parent: 'production', settings: { protected: false, region: 'eu' } },
    mutations: [
      [['slug'], ['Bad', 'flag', 'production', '', '-x', 42]],
      [['parent'], ['nope', 'fresh-env', 'Production']],
      [['settings'], [[], 'x']],
      [
        ['settings', 'protected'],
        ['yes', 1],
      ],
    ],
  },
  {
    name: 'replace environment',
    method: 'PUT',
    path: '/environments/production',
    template: { name: 'Production', settings: { protected: true } },
    mutations: [
      [['parent'], ['dev', 'staging', 'production', 'nope']],
      [['slug'], ['staging']],
      [['settings', 'protected'], ['true']],
    ],
  },
  {
    name: 'set environment flag',
    method: 'PUT',
    path: '/environments/dev/flags/banner',
    template: {
      enabled: true,
      percentage: 50,
      rules: [{ id: 'e1', conditions: [{ attribute: 'plan', operator: 'eq', value: 'pro' }], serveValue: 'p' }],
      variants: [{ key: 'a', value: 'A', weight: 1 }],
    },
    mutations: [
      [['percentage'], [101, -1, '50']],
      [['enabled'], ['yes', 1]],
      [['variants', 0, 'value'], [5]],
      [['rules', 0, 'serveValue'], [5]],
      [['environment'], ['staging']],
      [['flagKey'], ['checkout']],
    ],
  },
  {
    name: 'promote',
    method: 'POST',
    path: '/promote',
    template: { flagKey: 'checkout', from: 'staging', to: 'dev', dryRun: false },
    mutations: [
      [['to'], ['production', 'staging', 'nope', 'Bad', 42]],
      [['from'], ['nope', 'dev']],
      [['flagKey'], ['nope', 'bad key', 42, 'ALL']],
      [['dryRun'], ['yes', 1]],
      [['confirm'], ['true']],
      [['extra'], [1]],
    ],
  },
  {
    name: 'evaluate',
    method: 'POST',
    path: '/evaluate',
    template: {
      flagKey: 'checkout',
      type: 'boolean',
      defaultValue: false,
      context: { userId: 'u', country: 'NO', now: AT, attributes: { plan: 'pro', n: 1 } },
    },
    mutations: [
      [['context', 'userID'], ['x']],
      [
        ['context', 'now'],
        ['tomorrow', true],
      ],
      [
        ['context', 'attributes'],
        [[], 'x'],
      ],
      [['context', 'userId'], [5]],
      [['context'], ['ctx', []]],
      [['type'], ['bool']],
      [['defaultValue'], ['false', 0]],
      [['flagKey'], ['bad key', 5]],
    ],
  },
]

// ---- the fixture every case runs against ----

async function seed(admin: Admin): Promise<void> {
  const r = admin.repository
  await r.createFlag({
    key: 'checkout',
    type: 'boolean',
    rules: [
      {
        id: 'r1',
        name: 'r1',
        priority: 0,
        enabled: true,
        conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }],
        serveEnabled: true,
      },
      { id: 'r2', name: 'r2', priority: 1, enabled: true, conditions: [], serveEnabled: false },
    ],
  })
  await r.createFlag({
    key: 'banner',
    type: 'string',
    defaultValue: 'blue',
    variants: [
      { key: 'a', value: 'A', weight: 1 },
      { key: 'b', value: 'B', weight: 1 },
    ],
  })
  await r.createFlag({ key: 'limits', type: 'number', defaultValue: 10 })
  await r.setOverride({ flagKey: 'checkout', entityType: 'user', entityId: 'u1', enabled: true })
  await r.setOverride({ flagKey: 'banner', entityType: 'user', entityId: 'u2', enabled: true, value: 'red' })
  await r.createSegment({
    key: 'staff',
    name: 'staff',
    conditions: [{ attribute: 'email', operator: 'ends_with', value: '@example.com' }],
  })
  await r.createSegment({ key: 'beta', name: 'beta', conditions: [], parent: 'staff' })
  await r.createEnvironment({ slug: 'production', name: 'production', settings: { protected: true } })
  await r.createEnvironment({ slug: 'staging', name: 'staging', parent: 'production', settings: {} })
  await r.createEnvironment({ slug: 'dev', name: 'dev', parent: 'staging', settings: {} })
  await r.setEnvironmentFlag({ environment: 'staging', flagKey: 'checkout', enabled: true })
}

// ---- generating cases ----

interface Case {
  readonly label: string
  readonly category: string
  readonly route: RouteSpec
  readonly headers: Record<string, string>
  readonly body: string | Uint8Array
}

function setAt(target: Json, path: Path, value: Json): Json {
  if (path.length === 0) return value
  const root = structuredClone(target) as Record<string | number, Json>
  let node = root
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!
    if (node[key] === null || typeof node[key] !== 'object') node[key] = typeof path[i + 1] === 'number' ? [] : {}
    node = node[key] as Record<string | number, Json>
  }
  node[path[path.length - 1]!] = value
  return root
}

const FREE_FORM = new Set(['metadata', 'settings', 'attributes'])

/** Every object and string inside `value`, with its path and whether it lies in a free-form JSON field. */
function nodes(value: Json): { objects: Array<{ path: Path; free: boolean }>; strings: Path[] } {
  const objects: Array<{ path: Path; free: boolean }> = []
  const strings: Path[] = []
  const visit = (v: Json, path: Path, free: boolean) => {
    if (typeof v === 'string') strings.push(path)
    if (v === null || typeof v !== 'object') return
    if (Array.isArray(v)) v.forEach((item, i) => visit(item, [...path, i], free))
    else {
      objects.push({ path, free })
      for (const [k, item] of Object.entries(v)) visit(item, [...path, k], free || FREE_FORM.has(k))
    }
  }
  visit(value, [], false)
  return { objects, strings }
}

function getAt(value: Json, path: Path): Json {
  return path.reduce<Json>((v, k) => (v as Record<string | number, Json>)[k], value)
}

/** `levels` of nesting as JSON text (JSON.stringify of the value itself would overflow the stack). */
function deep(levels: number, arrays: boolean): string {
  return arrays ? '['.repeat(levels) + '1' + ']'.repeat(levels) : '{"a":'.repeat(levels) + '1' + '}'.repeat(levels)
}

function generate(random: () => number): Case[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  const cases: Case[] = []
  const json = (v: Json) => JSON.stringify(v)
  for (let n = 0; n < CASES; n++) {
    const route = pick(ROUTES)
    const { objects, strings } = nodes(route.template)
    const conditions = objects.filter((o) => !o.free && 'operator' in (getAt(route.template, o.path) as object))
    const numeric = objects.flatMap((o) =>
      o.free
        ? []
        : Object.keys(getAt(route.template, o.path) as object)
            .filter((k) => ['priority', 'rolloutPercentage', 'weight', 'percentage'].includes(k))
            .map((k) => [...o.path, k]),
    )
    const zones = nodes(route.template).objects.filter((o) => 'timezone' in (getAt(route.template, o.path) as object))
    const categories = [
      'content-type',
      'invalid-json',
      'invalid-utf8',
      'top-level-type',
      'deep-nesting',
      'deep-nesting',
      'prototype-pollution',
      'prototype-pollution',
      'huge-string',
      'huge-string',
      'oversize',
      'unknown-field',
      'route-specific',
      'route-specific',
      'route-specific',
      'route-specific',
      ...(numeric.length > 0 ? ['number-like'] : []),
      ...(conditions.length > 0 ? ['unknown-operator', 'bad-pattern'] : []),
      ...(zones.length > 0 ? ['time-zone'] : []),
      ...(route.versioned === true ? ['if-match'] : []),
    ]
    const category = pick(categories)
    const headers: Record<string, string> = { 'content-type': 'application/json', ...route.headers }
    let body: string | Uint8Array
    let label: string
    switch (category) {
      case 'content-type': {
        const type = pick(WRONG_CONTENT_TYPES)
        headers['content-type'] = type
        if (type === 'json' && random() < 0.5) headers['content-type'] = ''
        body = json(route.template)
        label = `Content-Type ${type}`
        break
      }
      case 'invalid-json':
        body = pick(INVALID_JSON)
        label = `invalid JSON ${JSON.stringify(body).slice(0, 40)}`
        break
      case 'invalid-utf8': {
        const bytes = Buffer.from(json(route.template))
        const at = Math.floor(random() * bytes.length)
        body = Buffer.concat([bytes.subarray(0, at), Buffer.from([pick([0xff, 0xc3, 0xe2, 0xf0, 0x80])]), bytes.subarray(at)])
        label = `invalid UTF-8 at ${at}`
        break
      }
      case 'top-level-type': {
        const value = Array.isArray(route.template)
          ? pick<Json>([{}, 'string', 42, null, true, [42], [null], [[]], { 0: route.template[0] }])
          : pick<Json>([[], [route.template], 'string', 42, null, true, false, 1e308])
        body = json(value)
        label = `top level ${body.slice(0, 30)}`
        break
      }
      case 'deep-nesting': {
        const levels = pick(DEEP)
        const arrays = random() < 0.5
        if (random() < 0.3) {
          body = deep(levels, arrays)
          label = `whole body nested ${levels} levels`
        } else {
          const target = pick(objects)
          const keys = Object.keys(getAt(route.template, target.path) as object)
          const key = keys.length > 0 && random() < 0.7 ? pick(keys) : 'nested'
          body = json(setAt(route.template, [...target.path, key], '__FUZZ_DEEP__')).replace(
            '"__FUZZ_DEEP__"',
            deep(levels, arrays),
          )
          label = `${[...target.path, key].join('.')} nested ${levels} levels`
        }
        break
      }
      case 'prototype-pollution': {
        const target = pick(objects)
        const marker = '"__FUZZ_MARKER__"'
        const key = pick(['__proto__', 'constructor', 'prototype'])
        const payload = pick(['{"polluted":"yes"}', '{"prototype":{"polluted":"yes"}}', '"yes"', '{"toString":"x"}', 'null'])
        body = json(setAt(route.template, [...target.path, '__FUZZ_MARKER__'], 0)).replace(`${marker}:0`, `"${key}":${payload}`)
        label = `${key} at ${target.path.join('.') || '(top)'}`
        break
      }
      case 'huge-string':
      case 'oversize': {
        const size = category === 'oversize' ? pick([300_000, 1_000_000, 4_000_000]) : pick([70_000, 120_000, 200_000])
        const path = strings.length > 0 && random() < 0.8 ? pick(strings) : [...pick(objects).path, 'x'.repeat(size)]
        body = json(setAt(route.template, path, 'x'.repeat(size)))
        label = `${size}-character string at ${path.join('.').slice(0, 60)}`
        break
      }
      case 'unknown-field': {
        const target = pick(objects.filter((o) => !o.free))
        const key = pick(['rolloutPercentag', 'Key', 'extra', 'isAdmin', 'toString', 'valueOf', ''])
        body = json(setAt(route.template, [...target.path, key], pick<Json>([1, 'x', null, {}])))
        label = `unknown field ${key} at ${target.path.join('.') || '(top)'}`
        break
      }
      case 'number-like': {
        const path = pick(numeric)
        const value = random() < 0.2 ? '__INF__' : pick(NUMBER_LIKE)
        body = json(setAt(route.template, path, value)).replace('"__INF__"', pick(['1e999', '-1e999']))
        label = `${path.join('.')} = ${value}`
        break
      }
      case 'unknown-operator': {
        const target = pick(conditions)
        const operator = pick(BAD_OPERATORS)
        body = json(setAt(route.template, [...target.path, 'operator'], operator))
        label = `operator ${JSON.stringify(operator).slice(0, 30)}`
        break
      }
      case 'bad-pattern': {
        const target = pick(conditions)
        const pattern = pick(BAD_PATTERNS)
        body = json(setAt(setAt(route.template, [...target.path, 'operator'], 'matches'), [...target.path, 'value'], pattern))
        label = `matches ${JSON.stringify(pattern).slice(0, 30)}`
        break
      }
      case 'time-zone': {
        const target = pick(zones)
        const zone = pick(BAD_TIME_ZONES)
        body = json(setAt(route.template, [...target.path, 'timezone'], zone))
        label = `time zone ${JSON.stringify(zone)}`
        break
      }
      case 'if-match': {
        const value = pick(['3', 'abc', '"3', 'W/3', '"999"', '"0"', '"998", "999"', 'W/"1"', '""', '"-1"', ',', '"1" "2"'])
        headers['if-match'] = value
        body = json(route.template)
        label = `If-Match ${value}`
        break
      }
      default: {
        const [path, values] = pick(route.mutations)
        const value = pick(values)
        body = json(setAt(route.template, path, value))
        label = `${path.join('.')} = ${JSON.stringify(value)?.slice(0, 40)}`
      }
    }
    cases.push({ label, category, route, headers, body })
  }
  return cases
}

// ---- the runs ----

describe('admin API: hostile bodies', () => {
  let admin: Admin

  beforeAll(async () => {
    admin = await startAdmin({ repository: new StoreFlagRepository(new MemoryStore()), maxBodyBytes: MAX_BODY })
    await seed(admin)
  })
  afterAll(async () => {
    await admin.served.close()
  })

  it('every route template is valid on its own (so each case fails only for what was broken)', async () => {
    for (const route of ROUTES) {
      const fresh = await startAdmin({ repository: new StoreFlagRepository(new MemoryStore()), maxBodyBytes: MAX_BODY })
      try {
        await seed(fresh)
        const response = await fresh.api(route.method, route.path, route.template, { headers: route.headers ?? {} })
        expect(response.status, `${route.name}: ${response.text}`).toBeLessThan(300)
      } finally {
        await fresh.served.close()
      }
    }
  })

  it(
    `${CASES} malformed or hostile bodies (seed ${SEED}) answer 4xx JSON errors and change nothing`,
    { timeout: 240_000 },
    async () => {
      const cases = generate(prng(SEED))
      const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort()
      const before = normalise(await admin.repository.loadSnapshot())
      const revision = await admin.repository.revision()

      const statuses = new Map<number, number>()
      const categories = new Map<string, number>()
      const failures: string[] = []
      let next = 0
      const worker = async () => {
        while (next < cases.length) {
          const c = cases[next++]!
          categories.set(c.category, (categories.get(c.category) ?? 0) + 1)
          let response: ApiResponse
          try {
            response = await admin.api(c.route.method, c.route.path, undefined, { raw: c.body, headers: c.headers })
          } catch (error) {
            failures.push(`${c.route.name} / ${c.label}: request failed: ${String(error)}`)
            continue
          }
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
          if (response.status < 400 || response.status >= 500) {
            failures.push(`${c.route.name} / ${c.label}: ${response.status} ${response.text.slice(0, 200)}`)
            continue
          }
          try {
            expectJsonError(response)
          } catch {
            failures.push(`${c.route.name} / ${c.label}: not a JSON error: ${response.text.slice(0, 200)}`)
          }
        }
      }
      await Promise.all(Array.from({ length: 6 }, worker))

      expect(failures, failures.slice(0, 20).join('\n')).toEqual([])
      expect(admin.errors).toEqual([])
      // Every kind of case was generated, and every route was hit.
      for (const category of [
        'content-type',
        'invalid-json',
        'invalid-utf8',
        'top-level-type',
        'deep-nesting',
        'prototype-pollution',
        'huge-string',
        'oversize',
        'unknown-field',
        'route-specific',
        'number-like',
        'unknown-operator',
        'bad-pattern',
        'time-zone',
        'if-match',
      ]) {
        expect(categories.get(category) ?? 0, category).toBeGreaterThanOrEqual(10)
      }
      expect(new Set(cases.map((c) => c.route.name)).size).toBe(ROUTES.length)
      for (const status of [400, 413, 415]) expect(statuses.get(status) ?? 0, `status ${status}`).toBeGreaterThan(0)

      // Nothing changed, nothing was audited, nothing was polluted.
      expect(normalise(await admin.repository.loadSnapshot())).toEqual(before)
      expect(await admin.repository.revision()).toBe(revision)
      expect((await admin.api('GET', '/audit')).body.total).toBe(0)
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined()
      console.log(
        `admin fuzz (seed ${SEED}): ${cases.length} cases; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; categories ${JSON.stringify(Object.fromEntries([...categories].sort()))}`,
      )
    },
  )
})
