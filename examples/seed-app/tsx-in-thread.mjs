// Preload for the reference service's offload threads when it runs from TypeScript (npm start):
// `--import tsx` alone does not reach worker threads on Node 20 (tsx 4 hooks the main thread only
// there); calling tsx's register() inside each thread works on every supported Node. A service
// built to JavaScript needs none of this.
import { isMainThread } from 'node:worker_threads'

if (!isMainThread) {
  const { register } = await import('tsx/esm/api')
  register()
}
