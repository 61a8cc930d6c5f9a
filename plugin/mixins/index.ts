/**
 * DCRF's mixins by their DCRF names: `mixins.list()`, `mixins.delete()`, `mixins.paginatedList()`…
 */
export { list, retrieve, create, update, patch, delete, crud } from './crud.js'
export { paginatedList, streamedList } from './pagination.js'
export { instanceSubscriptions } from './instance.js'
export type {
  CreateOptions,
  UpdateOptions,
  PatchOptions,
  DeleteOptions,
  CrudOptions,
  MixinOptions,
  PaginationOptions,
  StreamOptions,
  Page
} from '../../types/mixins.js'
