// flagstone/testing: the store conformance suite for implementers' own CI (needs vitest, an optional peer).
export { testStore } from './test-store.js'
export { CONFORMANCE_TIMEOUT, type RawAccess, type TestStoreOptions } from './harness.js'
