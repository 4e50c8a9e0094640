export { ManualClock } from './manual-clock.js'
export { waitForEvent } from './wait-for-event.js'
export { withTestClient } from './test-client.js'
export type { FetchHandler, RequestOptions, TestClient, TestClientOptions } from './test-client.js'
