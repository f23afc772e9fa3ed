// `npm run gas -w contracts`: gas per operation, measured from transaction receipts on a local anvil
// (so every figure includes the 21 000 base cost and calldata). Prints a Markdown table.
import { measureRewardsGas } from './measure.ts';

const { rows } = await measureRewardsGas({ depths: [4, 10, 14, 17, 20], onStep: (step) => process.stderr.write(`${step}…\n`) });
console.log('| operation | gas used (receipt) |');
console.log('| --- | ---: |');
for (const row of rows) console.log(`| ${row.label} | ${row.gas.toLocaleString('en-US')} |`);
