/**
 * The observers of one plugin registration. The writing side turns each committed change (or
 * emitted signal) into one channel message per group — serialized once, whatever the number of
 * subscribers; the receiving side hands each message to the connections that subscribed.
 */
import type { FastifyBaseLogger } from 'fastify'
import { getTableName } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import type { ChangeEvent, GroupMessage, ModelObserverOptions, ObservedAction, ObserverDefinition, SignalObserverOptions } from '../../types/index.js'
import { ChannelLayer } from '../channel-layer.js'
import { toJson } from '../serializer-fields.js'
import { observerPublish, publishObserver } from '../diagnostics.js'

/** The channel message of an observer. */
export interface ObserverMessage extends GroupMessage {
  type: typeof OBSERVER_MESSAGE
  observer: string
  group: string
  action: string
  data: unknown
  /** When the change committed (or the signal was emitted), in ms since the epoch: a number, so that it survives Redis. */
  committedAt: number
}

/**
 * The channel message of an instance subscription: the subscriber re-reads the row itself, unless
 * the message comes from this process and the row it committed fits (see {@link committedRow}).
 */
export interface InstanceMessage extends GroupMessage {
  type: typeof INSTANCE_MESSAGE
  action: 'update' | 'delete'
  /** When the change committed, in ms since the epoch. */
  committedAt: number
}

export const OBSERVER_MESSAGE = 'dcrf.observer'
export const INSTANCE_MESSAGE = 'dcrf.instance'

/**
 * The rows that the instance messages published in this process were written as (the in-process
 * channel layer hands on the message object itself).
 */
const committedRows = new WeakMap<InstanceMessage, { table: PgTable, row: Record<string, unknown> }>()

/**
 * The row an update committed, when its message was published in this process through the same
 * table object (column keys and types of another definition of the table would differ): a
 * subscriber whose queryset is the whole table would read back exactly that row. Undefined
 * otherwise (a message from another process, through Redis: it re-reads).
 */
export function committedRow (message: InstanceMessage, table: PgTable): Record<string, unknown> | undefined {
  const committed = committedRows.get(message)
  return committed !== undefined && committed.table === table ? committed.row : undefined
}

/** A registered observer: its definition and the id every process derives alike. */
export interface RegisteredObserver {
  id: string
  definition: ObserverDefinition
}

/** The channel group of an observer's group. */
export function observerGroup (observerId: string, group: string): string {
  return `dcrf.o.${observerId}.${group}`
}

/** The channel group of one row's instance subscribers. */
export function instanceGroup (tableName: string, pk: unknown): string {
  return `dcrf.i.${tableName}.${typeof pk === 'object' ? JSON.stringify(pk) : String(pk)}`
}

/** The group of an observer without `groupsForSignal`/`groupsForConsumer`: everyone. */
export const ALL = '*'

function groupsOf (list: Iterable<string> | undefined): Set<string> {
  return new Set(list === undefined ? [ALL] : list)
}

export class ObserverHub {
  #channelLayer: ChannelLayer
  #log: FastifyBaseLogger
  #ids = new WeakMap<ObserverDefinition, string>()
  #definitions = new Map<string, ObserverDefinition>()
  #taken = new Set<string>()
  #byTable = new Map<PgTable, RegisteredObserver[]>()
  #bySignal = new Map<string, RegisteredObserver[]>()
  /** Tables with instance subscriptions, by SQL name. */
  #instanceTables = new Set<string>()
  /** Publishing is sequential, so that subscribers see the changes of a row in commit order. */
  #tail: Promise<void> = Promise.resolve()
  /** The commit time of the publishing under way (one at a time): what its messages carry. */
  #committedAt = 0
  /** Whether the publishing under way reaches this process's members only (external changes). */
  #local = false

  constructor (channelLayer: ChannelLayer, log: FastifyBaseLogger) {
    this.#channelLayer = channelLayer
    this.#log = log
  }

  /**
   * Registers an observer when its consumer is mounted. Its id comes from its table (or signal)
   * and its name, so every process running the same code derives the same one.
   */
  register (definition: ObserverDefinition, name: string): RegisteredObserver {
    const known = this.#ids.get(definition)
    if (known !== undefined) return { id: known, definition }
    const base = `${definition.kind === 'model' ? getTableName(definition.table) : `signal:${definition.signal}`}.${name}`
    let id = base
    for (let n = 2; this.#taken.has(id); n++) id = `${base}#${n}`
    this.#taken.add(id)
    this.#ids.set(definition, id)
    this.#definitions.set(id, definition)
    const registered = { id, definition }
    if (definition.kind === 'model') {
      const list = this.#byTable.get(definition.table) ?? []
      list.push(registered)
      this.#byTable.set(definition.table, list)
    } else {
      const list = this.#bySignal.get(definition.signal) ?? []
      list.push(registered)
      this.#bySignal.set(definition.signal, list)
    }
    return registered
  }

  /** The id of a registered observer. */
  /** The observer registered under an id (a message names its observer by id). */
  definitionOf (id: string): ObserverDefinition | undefined {
    return this.#definitions.get(id)
  }

  idOf (definition: ObserverDefinition): string | undefined {
    return this.#ids.get(definition)
  }

  /** Notes a table whose rows can be subscribed to one by one. */
  registerInstanceTable (tableName: string): void {
    this.#instanceTables.add(tableName)
  }

  /** Whether writes to a table concern anyone here (change capture skips the others). */
  observes (table: PgTable): boolean {
    return this.#byTable.has(table) || this.#instanceTables.has(getTableName(table))
  }

  /**
   * Called by change capture after a commit. Never throws: failures are logged. `local`: to this
   * process's subscribers only (every process hears external changes by itself).
   */
  publishChanges (events: ChangeEvent[], local = false): void {
    const committedAt = Date.now()
    this.#enqueue(async () => {
      this.#committedAt = committedAt
      this.#local = local
      for (const event of events) await this.#publishChange(event)
    })
  }

  /** Emits an application event to the observers of `signal`. */
  signal (signal: string, payload: unknown): Promise<void> {
    const committedAt = Date.now()
    return this.#enqueue(async () => {
      this.#committedAt = committedAt
      this.#local = false
      for (const { id, definition } of this.#bySignal.get(signal) ?? []) {
        const options = definition.options as SignalObserverOptions
        const data = options.serialize === undefined ? payload : await options.serialize(payload)
        for (const group of groupsOf(options.groupsForSignal?.(payload))) {
          await this.#send(id, group, signal, data)
        }
      }
    })
  }

  #enqueue (publish: () => Promise<void>): Promise<void> {
    const done = this.#tail.then(publish).catch((err) => {
      // A message the channel layer could not take is counted there and reported once it is back.
      if (ChannelLayer.unavailable(err)) return
      this.#log.error({ err }, 'observer: publishing failed')
    })
    this.#tail = done
    return done
  }

  async #publishChange (event: ChangeEvent): Promise<void> {
    for (const { id, definition } of this.#byTable.get(event.table) ?? []) {
      const options = definition.options as ModelObserverOptions
      // No previous row (a table without a primary key, an upsert racing an insert): no groups before.
      const before = event.action === 'create' || event.previous === null ? new Set<string>() : groupsOf(options.groupsForSignal?.(event.previous))
      const after = event.action === 'delete' ? new Set<string>() : groupsOf(options.groupsForSignal?.(event.row))
      if (before.size === 0 && after.size === 0) continue
      // A row leaving a group is deleted there, one entering is created there, one staying is updated.
      let left = false
      for (const group of before) {
        if (!after.has(group)) left = true
      }
      // Once per event, whatever the groups and subscribers. A group the row left gets the row as
      // that group knew it: the new row may hold what its members must not see.
      const data = after.size === 0 ? undefined : await this.#serialize(options, event, event.row, event.action)
      const previous = left ? await this.#serialize(options, event, event.previous!, 'delete') : undefined
      for (const group of before) {
        if (!after.has(group)) await this.#send(id, group, 'delete', previous)
      }
      for (const group of after) {
        const action: ObservedAction = before.has(group) ? 'update' : 'create'
        await this.#send(id, group, action, data)
      }
    }
    if (event.pk !== null && this.#instanceTables.has(event.tableName) && event.action !== 'create') {
      const message: InstanceMessage = { type: INSTANCE_MESSAGE, action: event.action, committedAt: this.#committedAt }
      if (event.action === 'update') committedRows.set(message, { table: event.table, row: event.row })
      await this.#groupSend(instanceGroup(event.tableName, toJson(event.pk)), message)
    }
  }

  #serialize (options: ModelObserverOptions, event: ChangeEvent, row: Record<string, unknown>, action: ObservedAction): unknown {
    return options.serialize === undefined ? { pk: toJson(event.pk) } : options.serialize(row, action)
  }

  async #send (observerId: string, group: string, action: string, data: unknown): Promise<void> {
    const message: ObserverMessage = { type: OBSERVER_MESSAGE, observer: observerId, group, action, data, committedAt: this.#committedAt }
    if (observerPublish.hasSubscribers) publishObserver(observerId, group, action)
    await this.#groupSend(observerGroup(observerId, group), message)
  }

  async #groupSend (group: string, message: GroupMessage): Promise<void> {
    if (this.#local) this.#channelLayer.deliverLocal(group, message)
    else await this.#channelLayer.groupSend(group, message)
  }
}
