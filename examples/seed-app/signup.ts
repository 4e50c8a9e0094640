import { currentRequestId, type Logger } from 'afterwork'
import { z } from 'zod'
import type { DevMailSink } from './mail.js'

/** The seed's SignupRequest. */
export const SignupRequest = z.object({
  email: z.email(),
  name: z.string().min(1).max(200),
  source: z.string().max(100).default('organic'),
})
export type SignupRequest = z.infer<typeof SignupRequest>

/** The durable welcome email's payload. */
export const WelcomeEmail = z.object({ email: z.email(), name: z.string() })

/** One line of the signup log (the seed's analytics_db.insert). */
export interface SignupLogEntry {
  userId: number
  source: string
  requestId: string | undefined
}

/** Users created so far: the seed's create_user stub, with ids that count up. */
export class Users {
  #next = 42

  async create(_email: string, _name: string): Promise<number> {
    return this.#next++
  }
}

/** Runs after the response: the seed's send_welcome_email. */
export async function sendWelcomeEmail(mail: DevMailSink, email: string, name: string): Promise<void> {
  await mail.send({
    to: email,
    subject: 'Welcome!',
    body: `Hello ${name}, welcome aboard.`,
    requestId: currentRequestId(),
  })
}

/** Runs after the response: the seed's log_signup. */
export function logSignup(log: Logger, signups: SignupLogEntry[], userId: number, source: string): void {
  const entry = { userId, source, requestId: currentRequestId() }
  signups.push(entry)
  if (signups.length > 1_000) signups.shift()
  log.info(entry, 'signup logged')
}
