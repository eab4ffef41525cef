/**
 * `apiDocsRouter(...)`: `GET <prefix>/openapi.json` (the generated document) and a page for people
 * at `GET <prefix>/docs`, Swagger UI from the `swagger-ui-dist` package served from node_modules (no
 * CDN). Neither needs a token: the document describes the API, it grants nothing. Mount it before
 * the admin router, which answers every other path under the prefix (with 401 without a token).
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Router } from '@koa/router'
import { checkOptions } from '../../internal/objects.js'

export interface ApiDocsOptions {
  document: Record<string, unknown>
  /** @default '/admin/api' */
  prefix?: string
}

const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
}

function page(prefix: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>flagstone API</title>
<link rel="stylesheet" href="${prefix}/docs/swagger-ui.css">
<link rel="icon" href="${prefix}/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${prefix}/docs/swagger-ui-bundle.js"></script>
<script src="${prefix}/docs/swagger-ui-standalone-preset.js"></script>
<script src="${prefix}/docs/init.js"></script>
</body>
</html>
`
}

export function apiDocsRouter(options: ApiDocsOptions): Router {
  checkOptions(options, 'apiDocsRouter()')
  const prefix = (options.prefix ?? '/admin/api').replace(/\/+$/, '')
  const body = JSON.stringify(options.document)
  const dir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
  const cache = new Map<string, Buffer>()
  const router = new Router({ prefix })
  router.get('/openapi.json', (ctx) => {
    ctx.type = 'application/json'
    ctx.body = body
  })
  router.get('/docs', (ctx) => {
    ctx.type = 'text/html; charset=utf-8'
    ctx.body = page(prefix)
  })
  router.get('/docs/init.js', (ctx) => {
    ctx.type = 'text/javascript; charset=utf-8'
    ctx.body =
      `window.ui = SwaggerUIBundle({ url: ${JSON.stringify(`${prefix}/openapi.json`)}, dom_id: '#swagger-ui', ` +
      'presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout" })\n'
  })
  router.get('/docs/:file', async (ctx, next) => {
    const file = ctx.params.file!
    const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined
    if (type === undefined) return next()
    let content = cache.get(file)
    if (content === undefined) cache.set(file, (content = await readFile(join(dir, file))))
    ctx.type = type
    ctx.set('Cache-Control', 'public, max-age=3600')
    ctx.body = content
  })
  return router
}
