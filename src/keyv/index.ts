// keyv both ways: a flagstone store as a keyv adapter, and a keyv adapter as a flagstone store.
export { keyvAdapter, type KeyvAdapterOptions } from './keyv-adapter.js'
export { createKeyvStore, type KeyvStoreOptions } from './keyv-store.js'
