/** The documents' JSON shapes as TypeBox schemas: JSON Schema and TypeScript types from one source. */
export * from './schemas.js'
