/**
 * The SnapshotManager as the RESP commands see it (`RespSnapshots`, protocol/resp-context.ts):
 * whole server = `tenantId` null, BGSAVE's outcome logged (RESP has nobody to reply to), and
 * LASTSAVE's "server start" before the first save. Thread: main.
 * Invariant: a background save never leaves an unhandled rejection; its failure is logged once.
 * Relies on SnapshotManager setting `saving` before `save()` returns when it accepts a save.
 */
import type { SnapshotManager } from '../persist/snapshot-manager.js'
import type { RespSnapshots } from '../protocol/resp-context.js'
import type { Logger } from '../util/log.js'

/** `startedMs`: wall-clock ms the server started; LASTSAVE reports it until a save completes (as Redis does). */
export function respSnapshots (manager: SnapshotManager, startedMs: number, logger?: Logger): RespSnapshots {
  return {
    get saving () { return manager.saving },
    get lastSaveMs () { return manager.lastSaveMs > 0 ? manager.lastSaveMs : startedMs },
    save: async (tenantId) => await (tenantId === null ? manager.save() : manager.save({ tenantId })),
    saveInBackground: () => {
      if (manager.saving) return false
      const saving = manager.save()
      // The manager decides synchronously: a save it accepted is `saving` on return; one it
      // refused (a restore running) rejects SNAPSHOT_IN_PROGRESS, which is the reply, not a log line.
      if (!manager.saving) { saving.catch(() => {}); return false }
      saving.then(
        (info) => logger?.info({ file: info.file, items: info.items, bytes: info.bytes, durationMs: Math.round(info.durationMs) }, 'BGSAVE done'),
        (error: unknown) => logger?.error({ err: error }, 'BGSAVE failed')
      )
      return true
    },
    restore: async (tenantId) => await (tenantId === null ? manager.restore() : manager.restore({ tenantId }))
  }
}
