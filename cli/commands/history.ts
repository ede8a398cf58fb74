/**
 * `ha-redis history`: what ha-redis did to a cluster, newest first, from the state store: a local cluster's,
 * or the state table of a cluster of the deployment config file.
 */

import { writeFile } from 'node:fs/promises';
import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import { localDynamoClient } from '../../compose/local.ts';
import type { RemoteOptions } from '../../compose/remote.ts';
import { descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { formatEndpoint } from '../../core/model/cluster.ts';
import {
  ConfigurationError,
  errorMessage,
  HaRedisError,
  InvalidInputError,
} from '../../core/model/errors.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import { type Io, processIo } from './status.ts';

/** `history show` finds an entry by id among this many of the newest (the store has no lookup by id). */
const SHOW_SCAN_LIMIT = 1000;

export interface HistoryOptions {
  cluster: string;
  /** `history show`: also draw the entry's timeline as a Gantt chart into this SVG file. */
  svg?: string;
  /** The local root that holds `<cluster>/cluster.json`; default `localRoot()`. */
  root?: string;
  json?: boolean;
  /** A cluster of the deployment config file and its state table (`table` is required here). */
  remote?: Pick<RemoteOptions, 'configPath' | 'table' | 'dynamodbEndpoint'>;
}

/** A node's id and address: a descriptor's node, or a config file's. */
type NamedNode = { id: string; host: string; port: number };

const time = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');

/** Node id of an address among the cluster's nodes, or the address. */
function labelIn(nodes: readonly NamedNode[]) {
  return (e: { host: string; port: number } | null) =>
    e ? (nodes.find((n) => n.host === e.host && n.port === e.port)?.id ?? formatEndpoint(e)) : '-';
}

/** One line per entry: time, kind, outcome, epoch, old -> new, duration, write gap. */
export function formatHistoryLine(e: HistoryEntry, label: ReturnType<typeof labelIn>): string {
  return [
    time(e.startedAt),
    e.kind.padEnd(14),
    e.outcome.padEnd(11),
    `epoch ${e.epoch ?? '-'}`.padEnd(9),
    `${label(e.oldMaster)} -> ${label(e.newMaster)}`.padEnd(22),
    `${e.durationMs} ms`.padStart(9),
    e.writeGapMs === undefined ? '' : `  write gap ${e.writeGapMs} ms`,
    `  ${e.id}`,
  ].join(' ');
}

/** One entry whole, with its timeline as a table. */
export function formatHistoryEntry(e: HistoryEntry, label: ReturnType<typeof labelIn>): string[] {
  const first = e.timeline[0]?.at ?? e.startedAt;
  return [
    `id          ${e.id}`,
    `kind        ${e.kind}`,
    `outcome     ${e.outcome}`,
    `trigger     ${e.trigger}`,
    `started     ${time(e.startedAt)}`,
    `duration    ${e.durationMs} ms`,
    `epoch       ${e.epoch ?? '-'}`,
    `master      ${label(e.oldMaster)} -> ${label(e.newMaster)}`,
    `at risk     ${e.bytesAtRisk === null ? '-' : `${e.bytesAtRisk} bytes`}`,
    ...(e.writeGapMs === undefined ? [] : [`write gap   ${e.writeGapMs} ms`]),
    ...(e.error ? [`error       ${e.error}`] : []),
    '',
    'timeline',
    ...e.timeline.map((s) =>
      `  ${`+${s.at - first}`.padStart(7)} ms  ${s.step.padEnd(20)} ${String(s.durationMs).padStart(6)} ms  ${s.status.padEnd(7)} ${s.detail ?? ''}`.trimEnd(),
    ),
  ];
}

/** The cluster's history store and its nodes (for labels), closed after `fn`. */
async function withStore<T>(
  options: HistoryOptions,
  fn: (store: DynamoStateStore, nodes: readonly NamedNode[]) => Promise<T>,
): Promise<T> {
  if (options.remote) {
    // The AWS composition loads only for --config.
    const { remoteCluster, remoteStateStore } = await import('../../compose/remote.ts');
    const { cluster } = remoteCluster(options.remote.configPath, options.cluster);
    const table = remoteStateStore(options.remote);
    if (!table) {
      throw new ConfigurationError(
        'history of a cluster of the config file needs its state table: --table <StateTableName stack output>',
      );
    }
    try {
      return await fn(table.state, cluster.nodes);
    } finally {
      table.close();
    }
  }
  const d = await readDescriptor(
    options.root ? descriptorPath(options.cluster, options.root) : descriptorPath(options.cluster),
  );
  const dynamo = localDynamoClient(d.stateStore.endpoint);
  try {
    return await fn(new DynamoStateStore(dynamo, d.stateStore.table), d.nodes);
  } finally {
    dynamo.destroy();
  }
}

/** `history`: the newest `limit` entries; returns the exit code. */
export async function historyCommand(
  options: HistoryOptions & { limit: number },
  io: Io = processIo,
): Promise<number> {
  return withStore(options, async (store, nodes) => {
    const entries = await store.listHistory(options.cluster, options.limit);
    if (options.json) io.out(`${JSON.stringify(entries, null, 2)}\n`);
    else if (entries.length === 0) io.err(`no history for cluster ${options.cluster}`);
    else for (const e of entries) io.err(formatHistoryLine(e, labelIn(nodes)));
    return 0;
  });
}

/** `history show <id>`: one entry with its timeline; returns the exit code. */
export async function historyShowCommand(
  options: HistoryOptions & { id: string },
  io: Io = processIo,
): Promise<number> {
  return withStore(options, async (store, nodes) => {
    const entries = await store.listHistory(options.cluster, SHOW_SCAN_LIMIT);
    const exact = entries.find((e) => e.id === options.id);
    const matches = exact ? [exact] : entries.filter((e) => e.id.startsWith(options.id));
    if (matches.length > 1) {
      throw new HaRedisError(
        `history id prefix '${options.id}' matches ${matches.length} entries; give more of the id`,
      );
    }
    const entry = matches[0];
    if (!entry) {
      throw new HaRedisError(
        `no history entry '${options.id}' among the newest ${SHOW_SCAN_LIMIT} of cluster ${options.cluster}; list ids with 'ha-redis history --cluster ${options.cluster}'`,
      );
    }
    // The picture first: a file it cannot write ends the command before it prints anything.
    if (options.svg) await writeTimelineSvg(entry, labelIn(nodes), options.svg);
    if (options.json) io.out(`${JSON.stringify(entry, null, 2)}\n`);
    else for (const line of formatHistoryEntry(entry, labelIn(nodes))) io.err(line);
    if (options.svg) io.err(`timeline of ${entry.id} drawn to ${options.svg}`);
    return 0;
  });
}

/** The entry's timeline as a Gantt chart in an SVG file. vega loads only here, for --svg. */
async function writeTimelineSvg(
  entry: HistoryEntry,
  label: ReturnType<typeof labelIn>,
  file: string,
): Promise<void> {
  const { historyTimelineSpec } = await import('../../adapters/charts/gantt.ts');
  const { renderSvg } = await import('../../adapters/charts/render-svg.ts');
  const svg = await renderSvg(historyTimelineSpec(entry, label));
  try {
    await writeFile(file, svg);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InvalidInputError(
      `cannot write the timeline picture to ${file} (${code ?? errorMessage(error)}); give --svg a writable file path`,
      { cause: error },
    );
  }
}
