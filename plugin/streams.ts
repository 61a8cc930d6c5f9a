import type { AnyConsumer } from '../types/index.js'

/**
 * The consumers of a multiplexed route by stream name, declared once for the server and, as a
 * type, for the client (`connect<typeof streams>(url)`).
 *
 * @example
 * export const streams = defineStreams({ things: thingConsumer, things_with_id: thingWithIdConsumer })
 * app.dcrf.multiplex('/ws', streams)
 */
export function defineStreams<const TStreams extends Record<string, AnyConsumer>> (streams: TStreams): TStreams {
  return streams
}
