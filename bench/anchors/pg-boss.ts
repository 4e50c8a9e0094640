// pg-boss resolved from bench/anchors/node_modules (it needs Node 22+, so it is not a root dependency).
export * from 'pg-boss'
