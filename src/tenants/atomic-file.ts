/**
 * Atomic small-file replacement: write a temp file beside the target, fsync it, rename it over
 * the target, fsync the directory. Thread: main (async fs; libuv thread pool).
 * Invariant: a reader (or a restart after a crash at any point) sees either the old content or
 * the new, never a mix or an empty file; a failed write leaves no temp file behind.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import path from 'node:path'

/** Replaces `file` with `data` atomically, creating its directory if needed. File mode 0600. */
export async function writeFileAtomic (file: string, data: string): Promise<void> {
  const dir = path.dirname(file)
  await mkdir(dir, { recursive: true })
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const handle = await open(temp, 'wx', 0o600)
    try {
      await handle.writeFile(data, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, file)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  // The rename is durable only once the directory entry is: fsync the directory (POSIX).
  const dirHandle = await open(dir, 'r')
  try {
    await dirHandle.sync()
  } finally {
    await dirHandle.close()
  }
}
