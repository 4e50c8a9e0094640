import express from 'express'
import { runAdapterBehaviourSuite, SignupSchema, writeChunks } from '../behaviour/suite.js'
import { afterwork, afterworkErrors, serve, validate } from './index.js'

runAdapterBehaviourSuite('express', async (svc, routes) => {
  const app = express()
  app.use(afterwork(svc))
  app.use(express.json())
  app.get('/work', async (req, res) => void res.json(await routes.work(req)))
  app.get('/stream', (req, res) => writeChunks(res, routes.stream(req)))
  app.post('/signup', validate(SignupSchema), (req, res) => void res.status(201).json(routes.signup(req, req.body)))
  app.get('/items/:id', (req, res) => void res.json(routes.item(req.params.id)))
  app.get('/boom', () => routes.boom())
  app.get('/health/ready', async (_req, res) => {
    const { status, body } = await routes.ready()
    res.status(status).json(body)
  })
  app.use(afterworkErrors)
  return serve(svc, app, { port: 0, signals: false })
})
