/**
 * Contract tables: the cases one port's contract (its doc comments in core/ports.ts) promises, run the same
 * against every implementation (the in-memory fake in the unit tests, the real adapter in the integration tests).
 */
import { describe, it } from 'vitest';

/** The clusters one case may use: fresh names, so that cases can share one store (one DynamoDB table). */
export interface CaseClusters {
  cluster: string;
  other: string;
}

/** One case of a contract: a behaviour in the present tense, and the test that shows it on a port. */
export interface ContractCase<Port> {
  name: string;
  run(port: Port, clusters: CaseClusters): Promise<void>;
}

let clusters = 0;

/** Run the cases of one contract against the port `subject()` returns (called once per case). */
export function runContract<Port>(
  title: string,
  cases: readonly ContractCase<Port>[],
  subject: () => Port,
): void {
  describe(title, () => {
    for (const contractCase of cases) {
      it(contractCase.name, async () => {
        clusters += 1;
        await contractCase.run(subject(), {
          cluster: `contract-${clusters}`,
          other: `contract-${clusters}-other`,
        });
      });
    }
  });
}
