/**
 * `openApiDocument(...)`: the OpenAPI 3.1 document of the admin API and OFREP, generated: paths
 * and methods from the routers' own route tables, shapes from the TypeBox schemas, words from
 * `operations.ts`. Nothing in it is written by hand twice.
 */
import type { Router } from '@koa/router'
import type { TSchema } from '@sinclair/typebox'
import { DOCUMENT_SCHEMAS } from '../../flags/index.js'
import { ADMIN_OPERATIONS, type Operation, REQUEST_SCHEMAS } from './operations.js'
import {
  OFREP_SCHEMAS,
  OfrepBulkFailureSchema,
  OfrepBulkSuccessSchema,
  OfrepEvaluationFailureSchema,
  OfrepEvaluationRequestSchema,
  OfrepEvaluationSuccessSchema,
  OfrepGeneralErrorSchema,
} from './ofrep-schemas.js'
import { checkOptions } from '../../internal/objects.js'

export interface OpenApiOptions {
  /** The admin router (`adminRouter(...)`). */
  admin: Router
  /** Its prefix. @default '/admin/api' */
  adminPrefix?: string
  /** The OFREP router (`ofrepRouter(...)`), if mounted. */
  ofrep?: Router
  /** `info.version`. @default '0.0.0' */
  version?: string
}

export interface OpenApiResult {
  document: Record<string, unknown>
  /** `METHOD path` of routes the routers have but `operations.ts` does not describe. */
  undescribed: string[]
}

/** `:key` → `{key}`. */
const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

/** Every `METHOD path` a router answers (HEAD is implied by GET). */
export function routesOf(router: Router): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = []
  for (const layer of router.stack) {
    for (const method of layer.methods) if (method !== 'HEAD') out.push({ method, path: openApiPath(String(layer.path)) })
  }
  return out
}

/** TypeBox → plain JSON Schema: `$id`s dropped, `$ref: 'Name'` → `#/components/schemas/Name`. */
function plain(schema: TSchema): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(schema, (key, value: unknown) => {
      if (key === '$id') return undefined
      if (key === '$ref' && typeof value === 'string' && !value.startsWith('#')) return `#/components/schemas/${value}`
      return value
    }),
  ) as Record<string, unknown>
}

const json = (schema: TSchema) => ({ 'application/json': { schema: plain(schema) } })
const errorRef = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } }

function parameters(path: string) {
  return [...path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }))
}

const WRITES = new Set(['post', 'put', 'patch', 'delete'])

function adminOperation(op: Operation, path: string, method: string): Record<string, unknown> {
  const status = String(op.status ?? 200)
  const error = (description: string) => ({ description, content: errorRef })
  const responses: Record<string, unknown> = {
    [status]:
      op.response === undefined || status === '204' ? { description: 'done' } : { description: 'ok', content: json(op.response) },
    '400': error('invalid input: the message names the field and what is allowed'),
    '401': error('missing or wrong admin token'),
  }
  if (op.upsert === true) responses['201'] = { ...(responses[status] as object), description: 'created' }
  if (op.conditional === true) responses['304'] = { description: 'not modified since the ETag sent (`If-None-Match`)' }
  if (path.includes('{')) responses['404'] = error('not found')
  if (WRITES.has(method)) {
    responses['409'] = error('conflicts with what is stored (exists already, a stale body `version`, or in use)')
    responses['412'] = error('`If-Match` names another version than the stored one')
  }
  if (op.body !== undefined) {
    responses['413'] = error('request body too large')
    responses['415'] = error('request body is not `application/json`')
  }
  if (op.versionRequired === true) responses['428'] = error('`If-Match` (or a body `version`) is required')
  if (method === 'delete') responses['428'] = error('`If-Match` is required: the ETag read, or `*`')
  responses['429'] = { ...error('admin rate limit reached'), headers: { 'Retry-After': { schema: { type: 'string' } } } }
  responses['503'] = { ...error('the flag store is unavailable'), headers: { 'Retry-After': { schema: { type: 'string' } } } }
  const operation: Record<string, unknown> = { tags: [op.tag], summary: op.summary, responses }
  const params: Record<string, unknown>[] = parameters(path)
  if (method === 'delete') {
    // Destructive writes name what they destroy (issue 10 item 6).
    params.push({
      name: 'If-Match',
      in: 'header',
      required: true,
      description: 'the ETag read (a flag\'s "<version>", a document\'s "c-…"), or * for whatever is there',
      schema: { type: 'string' },
    })
  }
  if (params.length > 0) operation.parameters = params
  if (op.body !== undefined) operation.requestBody = { required: true, content: json(op.body) }
  return operation
}

function ofrepPaths(): Record<string, unknown> {
  const auth = {
    '401': { description: 'missing or unknown OFREP token' },
    '403': { description: 'the token is bound to another environment than the context names' },
    '429': { description: 'rate limit reached', headers: { 'Retry-After': { schema: { type: 'string' } } } },
  }
  return {
    '/ofrep/v1/evaluate/flags/{key}': {
      post: {
        tags: ['OFREP'],
        summary: 'Evaluate one flag',
        parameters: parameters('/{key}'),
        requestBody: { content: json(OfrepEvaluationRequestSchema) },
        responses: {
          '200': { description: 'evaluated', content: json(OfrepEvaluationSuccessSchema) },
          '400': { description: 'bad request or context', content: json(OfrepEvaluationFailureSchema) },
          '404': { description: 'flag not found', content: json(OfrepEvaluationFailureSchema) },
          ...auth,
          '500': { description: 'not ready', content: json(OfrepGeneralErrorSchema) },
        },
      },
    },
    '/ofrep/v1/evaluate/flags': {
      post: {
        tags: ['OFREP'],
        summary: 'Evaluate every flag (ETag / If-None-Match)',
        parameters: [{ name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } }],
        requestBody: { content: json(OfrepEvaluationRequestSchema) },
        responses: {
          '200': {
            description: 'evaluated',
            headers: { ETag: { schema: { type: 'string' } } },
            content: json(OfrepBulkSuccessSchema),
          },
          '304': { description: 'not modified since the ETag sent' },
          '400': { description: 'bad request or context', content: json(OfrepBulkFailureSchema) },
          ...auth,
          '500': { description: 'not ready', content: json(OfrepGeneralErrorSchema) },
        },
      },
    },
  }
}

export function openApiDocument(options: OpenApiOptions): OpenApiResult {
  checkOptions(options, 'openApiDocument()')
  const prefix = (options.adminPrefix ?? '/admin/api').replace(/\/+$/, '')
  const paths: Record<string, Record<string, unknown>> = {}
  const undescribed: string[] = []
  for (const { method, path } of routesOf(options.admin)) {
    const relative = path.startsWith(prefix) ? path.slice(prefix.length) || '/' : path
    const op = ADMIN_OPERATIONS[`${method} ${relative}`]
    if (op === undefined) {
      undescribed.push(`${method} ${path}`)
      continue
    }
    ;(paths[path] ??= {})[method.toLowerCase()] = {
      ...adminOperation(op, path, method.toLowerCase()),
      security: [{ adminToken: [] }],
    }
  }
  if (options.ofrep !== undefined) {
    const known = ofrepPaths() as Record<string, Record<string, unknown>>
    for (const { method, path } of routesOf(options.ofrep)) {
      const op = known[path]?.[method.toLowerCase()]
      if (op === undefined) {
        undescribed.push(`${method} ${path}`)
        continue
      }
      ;(paths[path] ??= {})[method.toLowerCase()] = { ...(op as object), security: [{ ofrepToken: [] }, { ofrepApiKey: [] }] }
    }
  }
  const schemas: Record<string, unknown> = {
    Error: {
      type: 'object',
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['code', 'message', 'details'],
          properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } },
        },
      },
    },
  }
  for (const schema of [...DOCUMENT_SCHEMAS, ...REQUEST_SCHEMAS, ...OFREP_SCHEMAS]) schemas[schema.$id!] = plain(schema)
  const document = {
    openapi: '3.1.0',
    info: {
      title: 'flagstone',
      version: options.version ?? '0.0.0',
      description: 'The flagstone admin API (bearer admin token) and OFREP v1 remote evaluation (read-only OFREP tokens).',
    },
    paths,
    components: {
      schemas,
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'the admin token' },
        ofrepToken: { type: 'http', scheme: 'bearer', description: 'an OFREP token (bound to one environment)' },
        ofrepApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'an OFREP token as X-API-Key' },
      },
    },
  }
  return { document, undescribed }
}
