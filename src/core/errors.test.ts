import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { AfterworkError, LifespanError, ShutdownError, ValidationError, errorCodes, invalidOption, isAfterworkError } from './errors.js'

describe('error catalogue', () => {
  it('lists every code in docs/errors.md, and nothing else', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    const documented = [...doc.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort()
    expect(documented).toEqual(Object.keys(errorCodes).sort())
  })

  it('gives every code the ERR_<AREA>_<WHAT> form', () => {
    for (const code of Object.keys(errorCodes)) expect(code).toMatch(/^ERR_[A-Z]+(_[A-Z]+)*$/)
  })
})

describe('AfterworkError', () => {
  it('carries its code and cause', () => {
    const cause = new Error('boom')
    const error = new AfterworkError('ERR_TIMEOUT', 'too slow', { cause })
    expect(error).toBeInstanceOf(Error)
    expect(error.code).toBe('ERR_TIMEOUT')
    expect(error.cause).toBe(cause)
    expect(isAfterworkError(error)).toBe(true)
    expect(isAfterworkError(error, 'ERR_TIMEOUT')).toBe(true)
    expect(isAfterworkError(error, 'ERR_SHUTDOWN')).toBe(false)
    expect(isAfterworkError(cause)).toBe(false)
  })

  it('subclasses keep the base class and their own code', () => {
    expect(new ShutdownError()).toBeInstanceOf(AfterworkError)
    expect(new ShutdownError().code).toBe('ERR_SHUTDOWN')
    const lifespan = new LifespanError('ERR_LIFESPAN_STARTUP', 'redis', 'failed')
    expect(lifespan.lifespan).toBe('redis')
    expect(lifespan).toBeInstanceOf(AfterworkError)
  })
})

describe('ValidationError', () => {
  it('names the first field in its message and counts the rest', () => {
    const error = new ValidationError(
      [
        { path: 'email', message: 'Required' },
        { path: 'name', message: 'Too short' },
      ],
      'request body',
    )
    expect(error.code).toBe('ERR_VALIDATION')
    expect(error.message).toBe('Invalid request body: email: Required (and 1 more)')
    expect(error.issues).toHaveLength(2)
  })

  it('describes a root-level issue without a path', () => {
    expect(new ValidationError([{ path: '', message: 'Expected object' }]).message).toBe('Invalid input: input: Expected object')
  })
})

describe('invalidOption', () => {
  it('names the option and the bad value', () => {
    expect(() => invalidOption('background.maxPending', -1, 'an integer >= 1')).toThrow(
      'background.maxPending must be an integer >= 1; got -1',
    )
    expect(() => invalidOption('lifespan[0]', function named() {}, 'x')).toThrow('got a function named')
  })
})
