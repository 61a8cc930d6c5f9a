/**
 * `defineStreams()`: the streams of a multiplexed route, declared once for the server and, as a
 * type, for the client (`connect<typeof streams>(url)`).
 */
import type { AnyConsumer } from '../types/index.js'

/**
 * Returns its argument: the consumers of a multiplexed route by stream name, kept with their types.
 *
 * @example
 * export const streams = defineStreams({ things: thingConsumer, things_with_id: thingWithIdConsumer })
 * app.dcrf.multiplex('/ws', streams)
 */
export function defineStreams<const TStreams extends Record<string, AnyConsumer>> (streams: TStreams): TStreams {
  return streams
}
