/** One email the dev mail sink has "sent". */
export interface SentEmail {
  to: string
  subject: string
  body: string
  requestId: string | undefined
  sentAt: string
}

/**
 * A development mail sink: it keeps what it "sends" (the last 1,000) so `GET /outbox` can show that
 * background work happened. `failFirst` makes the first n sends throw, to watch failures and retries.
 */
export class DevMailSink {
  readonly #outbox: SentEmail[] = []
  #failuresLeft: number

  constructor(opts: { failFirst?: number } = {}) {
    this.#failuresLeft = opts.failFirst ?? 0
  }

  async send(email: Omit<SentEmail, 'sentAt'>): Promise<void> {
    if (this.#failuresLeft > 0) {
      this.#failuresLeft--
      throw new Error(`dev mail sink: simulated failure sending to ${email.to}`)
    }
    this.#outbox.push({ ...email, sentAt: new Date().toISOString() })
    if (this.#outbox.length > 1_000) this.#outbox.shift()
  }

  get outbox(): readonly SentEmail[] {
    return this.#outbox
  }
}
