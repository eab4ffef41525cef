/**
 * A throwaway Redis Cluster for tests: 3 masters and 3 replicas on loopback, from the machine's
 * `redis-server` and `redis-cli --cluster create`, each node in its own temp dir; `stop()` kills
 * the pids it started and removes the dirs. Ports are picked at random from
 * FLAGSTONE_CLUSTER_PORTS (`from-to`, default 30000-39999) with the bus port (port + 10000) free
 * too, so several test files (and engineers) can each run one at once.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { REQUIRE_SERVICES, sleep } from './services.js'

const run = promisify(execFile)
const NODES = 6
/** Low, so a killed master's replica is promoted within a few seconds (the default is 15 s). */
export const NODE_TIMEOUT_MS = 1000

async function free(port: number): Promise<boolean> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

function portRange(): [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(process.env.FLAGSTONE_CLUSTER_PORTS ?? '30000-39999')
  if (match === null) throw new Error('FLAGSTONE_CLUSTER_PORTS must look like 7000-7099')
  return [Number(match[1]), Number(match[2])]
}

/** NODES consecutive ports whose bus ports are free too. */
async function pickPorts(): Promise<number[]> {
  const [from, to] = portRange()
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = from + Math.floor(Math.random() * (to - from + 2 - NODES))
    const ports = Array.from({ length: NODES }, (_, i) => base + i)
    const ok = await Promise.all(ports.flatMap((p) => [free(p), free(p + 10000)]))
    if (ok.every(Boolean)) return ports
  }
  throw new Error(`no ${NODES} free ports (and bus ports) in ${from}-${to}`)
}

async function whichAll(...commands: string[]): Promise<boolean> {
  const found = await Promise.all(
    commands.map((c) =>
      run('sh', ['-c', `command -v ${c}`]).then(
        () => true,
        () => false,
      ),
    ),
  )
  return found.every(Boolean)
}

/** Whether the cluster suites should run; logs loudly when they will be skipped (fails under FLAGSTONE_REQUIRE_SERVICES=1). */
export async function clusterAvailable(): Promise<boolean> {
  if (await whichAll('redis-server', 'redis-cli')) return true
  if (REQUIRE_SERVICES) return true // let the suite run and fail on the spawn
  console.warn(
    '\n!!! redis-server / redis-cli not found: the Redis Cluster tests are SKIPPED (set FLAGSTONE_REQUIRE_SERVICES=1 to fail instead)\n',
  )
  return false
}

export interface ClusterNode {
  readonly port: number
  readonly pid: number
}

export class RedisCluster {
  readonly #children = new Map<number, ChildProcess>()
  private constructor(
    readonly ports: readonly number[],
    readonly dir: string,
  ) {}

  /** `redis+cluster://` URL naming every node (the client discovers the rest anyway). */
  get url(): string {
    return `redis+cluster://${this.ports.map((p) => `127.0.0.1:${p}`).join(',')}`
  }

  static async start(): Promise<RedisCluster> {
    for (let attempt = 1; ; attempt++) {
      const cluster = new RedisCluster(await pickPorts(), mkdtempSync(join(tmpdir(), 'flagstone-cluster-')))
      try {
        await cluster.#create()
        return cluster
      } catch (error) {
        await cluster.stop()
        if (attempt >= 3) throw error // a port taken between the check and the bind: try another block
      }
    }
  }

  async #create(): Promise<void> {
    for (const port of this.ports) this.#spawn(port)
    await Promise.all(this.ports.map((p) => this.#waitFor(p, (info) => info.includes('cluster_enabled:1'), 'INFO', 'cluster')))
    await run(
      'redis-cli',
      ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
      {
        timeout: 60_000,
      },
    )
    await Promise.all(this.ports.map((p) => this.#waitFor(p, (info) => info.includes('cluster_state:ok'), 'CLUSTER', 'INFO')))
    // Every replica has finished its first sync, so a kill right away has a replica to promote.
    await Promise.all(
      this.ports.map((p) => this.#waitFor(p, (info) => !info.includes('master_link_status:down'), 'INFO', 'replication')),
    )
  }

  #spawn(port: number): void {
    // Every node in the one temp dir, each with its own nodes-<port>.conf; nothing is persisted.
    const child = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', this.dir, '--cluster-enabled', 'yes'],
        ...['--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', String(NODE_TIMEOUT_MS)],
        ...['--save', '', '--appendonly', 'no'],
      ],
      { stdio: 'ignore' },
    )
    this.#children.set(port, child)
  }

  async #waitFor(port: number, ok: (reply: string) => boolean, ...command: string[]): Promise<void> {
    let last = ''
    for (let i = 0; i < 600; i++) {
      last = await this.cli(port, ...command).catch((e: unknown) => String(e))
      if (ok(last)) return
      await sleep(50)
    }
    throw new Error(`redis node ${port}: ${command.join(' ')} never became ready: ${last.slice(0, 300)}`)
  }

  /** One redis-cli command against one node; resolves its output. */
  async cli(port: number, ...command: string[]): Promise<string> {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...command], { timeout: 10_000 })
    return stdout
  }

  /** The nodes that are masters right now and alive, with their pids (from CLUSTER NODES of a live node). */
  async masters(): Promise<ClusterNode[]> {
    const live = this.ports.filter((p) => this.alive(p))
    const lines = (await this.cli(live[0] ?? 0, 'CLUSTER', 'NODES')).trim().split('\n')
    return lines
      .map((line) => line.split(' '))
      .filter((f) => (f[2] ?? '').includes('master') && !(f[2] ?? '').includes('fail') && (f[8] ?? '') !== '')
      .map((f) => Number(/:(\d+)@/.exec(f[1] ?? '')?.[1]))
      .map((port) => ({ port, pid: this.#children.get(port)?.pid ?? -1 }))
  }

  /** The master serving the slot of `key` (a physical Redis key or channel). */
  async masterOf(key: string): Promise<ClusterNode> {
    const live = this.ports.filter((p) => this.alive(p))
    const slot = Number((await this.cli(live[0] ?? 0, 'CLUSTER', 'KEYSLOT', key)).trim())
    const lines = (await this.cli(live[0] ?? 0, 'CLUSTER', 'NODES')).trim().split('\n')
    for (const f of lines.map((line) => line.split(' '))) {
      if (!(f[2] ?? '').includes('master') || (f[2] ?? '').includes('fail')) continue
      const serves = f.slice(8).some((range) => {
        const [from, to] = range.split('-').map(Number)
        return from !== undefined && slot >= from && slot <= (to ?? from)
      })
      const port = Number(/:(\d+)@/.exec(f[1] ?? '')?.[1])
      if (serves) return { port, pid: this.#children.get(port)?.pid ?? -1 }
    }
    throw new Error(`no master serves slot ${slot}`)
  }

  /** Whether the node on `port` is running. */
  alive(port: number): boolean {
    const child = this.#children.get(port)
    return child !== undefined && child.exitCode === null && child.signalCode === null
  }

  /** Keys held by the node on `port`. */
  async dbsize(port: number): Promise<number> {
    return Number((await this.cli(port, 'DBSIZE')).trim())
  }

  /** SIGKILLs the node on `port` (by the pid this helper started). */
  async kill(port: number): Promise<void> {
    const child = this.#children.get(port)
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    process.kill(child.pid as number, 'SIGKILL')
    await exited
  }

  /** Starts a killed node again on its port with its nodes.conf: it rejoins the cluster (as a replica, after a failover). */
  async restart(port: number): Promise<void> {
    this.#spawn(port)
    await this.#waitFor(port, (info) => info.includes('cluster_state:ok'), 'CLUSTER', 'INFO')
    await this.#waitFor(
      port,
      (info) => info.includes('role:slave') && info.includes('master_link_status:up'),
      'INFO',
      'replication',
    )
  }

  /** Waits until the master on `port` (killed) was replaced: another node serves its slots, and the cluster is ok again. */
  async waitPromoted(port: number): Promise<void> {
    for (let i = 0; i < 1200; i++) {
      const masters = await this.masters().catch(() => [])
      if (masters.length === 3 && !masters.some((m) => m.port === port)) return this.waitHealthy()
      await sleep(50)
    }
    throw new Error(`no replica took over from the master on port ${port}`)
  }

  /** Waits until every live node reports cluster_state:ok again (after a failover). */
  async waitHealthy(): Promise<void> {
    const live = this.ports.filter((p) => this.alive(p))
    await Promise.all(live.map((p) => this.#waitFor(p, (info) => info.includes('cluster_state:ok'), 'CLUSTER', 'INFO')))
  }

  async stop(): Promise<void> {
    await Promise.all(this.ports.map((p) => this.kill(p)))
    rmSync(this.dir, { recursive: true, force: true })
  }
}
