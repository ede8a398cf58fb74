/** Formatting other kinds and unknown words, stable ids, escaping, Slack limits and the plain fallback text. */
import { describe, expect, it } from 'vitest';
import { formatNotification } from '../../../adapters/notify/format.ts';
import type { Notification } from '../../../core/model/records.ts';
import { START } from '../../support/fixtures.ts';
import {
  deferredFenceApplied,
  failoverOk,
  failoverPartial,
  failoverUnconfirmed,
  switchoverCompletedForward,
  switchoverDone,
  switchoverFailed,
  switchoverRefused,
  switchoverRolledBack,
} from './fixtures.ts';
import { header, lines, mrkdwnTexts, sections, slackFields, timelineBlock } from './read-formatted.ts';

// ---------------------------------------------------------------------------------------------
// Other kinds, limits, safety
// ---------------------------------------------------------------------------------------------

describe('formatNotification: other kinds', () => {
  it('names a maintenance outcome MAINTENANCE with its outcome', async () => {
    // Arrange
    const base = await switchoverDone();
    const n = {
      ...base,
      kind: 'maintenance',
      outcome: 'partial',
      summary: 'maintenance of orders: restart, 2 of 3 nodes',
    };

    // Act
    const f = formatNotification(n);

    // Assert
    expect(f.title).toBe('MAINTENANCE PARTIAL: orders');
    expect(f.json).toMatchObject({ kind: 'maintenance', outcome: 'partial', severity: 'warning' });
  });

  it('names a kind and an outcome it does not know from their own words', () => {
    // Arrange
    const n = { cluster: 'orders', kind: 'node-replacement', outcome: 'half_done', summary: 'n3 replaced' };

    // Act
    const f = formatNotification(n);

    // Assert
    expect(f.title).toBe('NODE REPLACEMENT HALF DONE: orders');
    expect(f.json.severity).toBe('warning');
    expect(slackFields(f)).toEqual({ Cluster: 'orders', Kind: 'node-replacement', Outcome: 'half_done' });
    expect(f.text).toBe(
      'NODE REPLACEMENT HALF DONE: orders\nn3 replaced\ncluster: orders | kind: node-replacement | outcome: half_done',
    );
    expect(timelineBlock(f)).toBeUndefined();
  });

  it('gives an outcome without a history entry a stable id from its content', () => {
    // Arrange
    const n = { cluster: 'orders', kind: 'maintenance', outcome: 'succeeded', summary: 'restart of n3 done' };

    // Act
    const a = formatNotification(n);
    const b = formatNotification(structuredClone(n));
    const c = formatNotification({ ...n, summary: 'restart of n2 done' });

    // Assert
    expect(a.id).toMatch(/^[0-9a-f]{32}$/);
    expect(b.id).toBe(a.id);
    expect(c.id).not.toBe(a.id);
  });

  it('escapes Slack control characters, so that no text becomes a link or a mention', () => {
    // Arrange
    const n = {
      cluster: 'orders',
      kind: 'failover',
      outcome: 'failed',
      summary: 'see <https://evil.example|here> & <!channel>',
    };

    // Act
    const f = formatNotification(n);

    // Assert
    for (const text of [...mrkdwnTexts(f.slack.blocks), f.slack.text]) expect(text).not.toMatch(/[<>]/);
    expect(sections(f)[0]?.text?.text).toBe('see &lt;https://evil.example|here&gt; &amp; &lt;!channel&gt;');
    expect(lines(f)[1]).toBe('see <https://evil.example|here> & <!channel>');
  });

  it('keeps every block within Slack limits, however long the timeline', () => {
    // Arrange
    const steps = Array.from({ length: 300 }, (_, i) => ({
      step: `step-${i}`,
      at: START + i,
      durationMs: 1,
      status: 'ok',
      detail: 'x'.repeat(500),
    }));
    const n = {
      cluster: 'orders',
      kind: 'failover',
      outcome: 'partial',
      summary: 's'.repeat(5000),
      entry: { ...switchoverFailed().entry, kind: 'failover', timeline: steps, error: 'e'.repeat(5000) },
    } as unknown as Notification;

    // Act
    const f = formatNotification(n);

    // Assert
    expect(header(f).length).toBeLessThanOrEqual(150);
    for (const s of sections(f)) {
      expect(s.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
      for (const field of s.fields ?? []) expect(field.text.length).toBeLessThanOrEqual(2000);
      expect((s.fields ?? []).length).toBeLessThanOrEqual(10);
    }
    expect(timelineBlock(f)).toMatch(/\.\.\. \d+ more steps\n```$/);
    expect(f.slack.text.length).toBeLessThanOrEqual(3000);
    expect(f.slack.blocks.length).toBeLessThanOrEqual(50);
  });

  it('gives every outcome a plain fallback text with no link and no markup', async () => {
    // Arrange
    const all = await Promise.all([
      failoverOk(),
      failoverUnconfirmed(),
      failoverPartial(),
      deferredFenceApplied(),
      switchoverDone(),
      switchoverRolledBack(),
      switchoverCompletedForward(),
      switchoverRefused(),
    ]);

    // Act
    const texts = all.map((n) => formatNotification(n).slack.text);

    // Assert
    for (const text of texts) {
      expect(text).not.toMatch(/https?:|<|>|```|\*/);
      expect(text.split('\n')[0]).toMatch(/^(FAILOVER|DEFERRED FENCE|SWITCHOVER) [A-Z ]+: orders$/);
    }
  });
});
