/**
 * vega-lite spec -> SVG text, in Node with no browser and no canvas: vega's headless view (`renderer: 'none'`).
 * The only module that imports vega and vega-lite's compiler (.dependency-cruiser.cjs keeps them here, out of
 * the Lambda bundles and the CLI's start-up).
 */
import { Error as ERRORS_ONLY, logger, parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Draw a vega-lite spec as a standalone SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // vega-lite warns of independent scales in a facet of layers, which the bench charts mean to have.
  const compiled = compile(spec, { logger: logger(ERRORS_ONLY) }).spec;
  const view = new View(parse(compiled), { renderer: 'none', logger: logger(ERRORS_ONLY) });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
