/**
 * The command line's colours (src/cli.ts): whether a stream gets them, decided as Node decides for
 * its own output, and the render style that paints with node:util `styleText` (Node 20.12+). No
 * nginx source: nginx prints no colours.
 */

import * as nodeUtil from 'node:util';
import type { RenderStyle } from './explain';

/** What the colour decision reads of an output stream: a `tty.WriteStream` has both. */
export interface Terminal {
  isTTY?: boolean;
  getColorDepth?(env?: Record<string, string | undefined>): number;
}

/**
 * Whether text written to `stream` gets colours, by Node's rule (`util.styleText` with
 * `validateStream`, lib/internal/util/colors.js `shouldColorize`): `FORCE_COLOR` decides when set
 * (`''`, `1`, `true`, `2`, `3`: on; anything else: off), even on a pipe; otherwise a terminal only,
 * none with `NO_COLOR` or `NODE_DISABLE_COLORS` set (to anything) or `TERM=dumb`, and only when the
 * terminal has 16 colours or more (`getColorDepth(env) > 2`).
 */
export function colourFor(stream: Terminal, env: Record<string, string | undefined>): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force === '' || force === '1' || force === 'true' || force === '2' || force === '3';
  if (stream.isTTY !== true) return false;
  if (env.NO_COLOR !== undefined || env.NODE_DISABLE_COLORS !== undefined || env.TERM === 'dumb') return false;
  return typeof stream.getColorDepth === 'function' ? stream.getColorDepth(env) > 2 : true;
}

/**
 * The render style: `util.styleText` when `on` (told not to judge process.stdout itself, which
 * Node 20.20 and 22 do by default: the decision is `colourFor`'s, per stream), the plain text
 * otherwise, and on a Node older than 20.12, which has no `styleText`.
 */
export function renderStyle(on: boolean): RenderStyle {
  const styleText = (nodeUtil as { styleText?: typeof nodeUtil.styleText }).styleText;
  const paint = (format: 'bold' | 'red' | 'yellow' | 'green' | 'dim') => (s: string) =>
    on && styleText !== undefined ? styleText(format, s, { validateStream: false }) : s;
  return { bold: paint('bold'), red: paint('red'), yellow: paint('yellow'), green: paint('green'), dim: paint('dim') };
}
