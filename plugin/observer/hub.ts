/**
 * The observers of one plugin registration: each committed change or emitted signal becomes one
 * channel message per group, serialized once whatever the number of subscribers.
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
  /** When the change committed or the signal was emitted, in ms since the epoch (a number survives Redis). */
  committedAt: number
}

/** The channel message of an instance subscription: the subscriber re-reads the row (see {@link ObserverHub.committedRow}). */
export interface InstanceMessage extends GroupMessage {
  type: typeof INSTANCE_MESSAGE
  action: 'update' | 'delete'
  /** When the change committed, in ms since the epoch. */
  committedAt: number
}

export const OBSERVER_MESSAGE = 'dcrf.observer'
export const INSTANCE_MESSAGE = 'dcrf.instance'

/** A registered observer: its definition and the id every process derives alike. */
interface RegisteredObserver {
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

/** One registration's observers: registered as consumers mount, published to as changes commit. */
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
  /** The rows the instance messages published here committed (the in-process channel layer hands on the message itself). */
  #committedRows = new WeakMap<InstanceMessage, { table: PgTable, row: Record<string, unknown> }>()
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

  /** Registers an observer when its consumer is mounted, under an id every process derives alike. */
  register (definition: ObserverDefinition, name: string): void {
    if (this.#ids.has(definition)) return
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
  }

  /** The observer registered under an id (a message names its observer by id). */
  definitionOf (id: string): ObserverDefinition | undefined {
    return this.#definitions.get(id)
  }

  /** The id of a registered observer. */
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
   * Publishes committed changes; never throws (failures are logged). `local`: to this process's
   * subscribers only, as every process hears external changes by itself.
   */
  publishChanges (events: ChangeEvent[], local = false): void {
    const committedAt = Date.now()
    this.#enqueue(async () => {
      this.#committedAt = committedAt
      this.#local = local
      for (const event of events) await this.#publishChange(event)
    })
  }

  /**
   * The row an update committed, when its message was published here through the same table object
   * (another definition of the table has other keys): what a subscriber without a queryset would
   * read back. Undefined for a message from another process.
   */
  committedRow (message: InstanceMessage, table: PgTable): Record<string, unknown> | undefined {
    const committed = this.#committedRows.get(message)
    return committed !== undefined && committed.table === table ? committed.row : undefined
  }

  /** Emits an application event to the observers of `signal`. */
  signal (signal: string, payload: unknown): Promise<void> {
    const committedAt = Date.now()
    return this.#enqueue(async () => {
      this.#committedAt = committedAt
      this.#local = false
      for (const { id, definition } of this.#bySignal.get(signal) ?? []) {
        const options = definition.options as SignalObserverOptions
        const groups = groupsOf(options.groupsForSignal?.(payload))
        let reached = false
        for (const group of groups) if (this.#reaches(id, group)) reached = true
        const data = !reached || options.serialize === undefined ? payload : await options.serialize(payload)
        for (const group of groups) await this.#send(id, group, signal, data)
      }
    })
  }

  #enqueue (publish: () => Promise<void>): Promise<void> {
    const done = this.#tail.then(publish).catch((err) => {
      // counted by the channel layer, and reported once it is back
      if (ChannelLayer.unavailable(err)) return
      this.#log.error({ err }, 'observer: publishing failed')
    })
    this.#tail = done
    return done
  }

  async #publishChange (event: ChangeEvent): Promise<void> {
    for (const { id, definition } of this.#byTable.get(event.table) ?? []) {
      const options = definition.options as ModelObserverOptions
      const before = event.action === 'create' || event.previous === null ? new Set<string>() : groupsOf(options.groupsForSignal?.(event.previous))
      const after = event.action === 'delete' ? new Set<string>() : groupsOf(options.groupsForSignal?.(event.row))
      if (before.size === 0 && after.size === 0) continue
      // Serialized only for a group someone may be in: nothing is done for nobody.
      let left = false
      let reachedAfter = false
      for (const group of before) {
        if (!after.has(group) && this.#reaches(id, group)) left = true
      }
      for (const group of after) {
        if (this.#reaches(id, group)) reachedAfter = true
      }
      // a group the row left gets the row it knew: the new row may hold what its members must not see
      const data = reachedAfter ? await this.#serialize(options, event, event.row, event.action) : undefined
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
      const group = instanceGroup(event.tableName, toJson(event.pk))
      if (!this.#channelLayer.hasMembers(group, this.#local)) return
      const message: InstanceMessage = { type: INSTANCE_MESSAGE, action: event.action, committedAt: this.#committedAt }
      if (event.action === 'update') this.#committedRows.set(message, { table: event.table, row: event.row })
      await this.#groupSend(group, message)
    }
  }

  #reaches (observerId: string, group: string): boolean {
    return this.#channelLayer.hasMembers(observerGroup(observerId, group), this.#local)
  }

  #serialize (options: ModelObserverOptions, event: ChangeEvent, row: Record<string, unknown>, action: ObservedAction): unknown {
    return options.serialize === undefined ? { pk: toJson(event.pk) } : options.serialize(row, action)
  }

  async #send (observerId: string, group: string, action: string, data: unknown): Promise<void> {
    if (observerPublish.hasSubscribers) publishObserver(observerId, group, action)
    const channelGroup = observerGroup(observerId, group)
    if (!this.#channelLayer.hasMembers(channelGroup, this.#local)) return
    const message: ObserverMessage = { type: OBSERVER_MESSAGE, observer: observerId, group, action, data, committedAt: this.#committedAt }
    await this.#groupSend(channelGroup, message)
  }

  async #groupSend (group: string, message: GroupMessage): Promise<void> {
    if (this.#local) this.#channelLayer.deliverLocal(group, message)
    else await this.#channelLayer.groupSend(group, message)
  }
}
