// Validates custom resources against their CRDs' own published schemas (the npm models of
// the Gateway API and of the Prometheus Operator). Reads a JSON array of objects on stdin;
// prints one line per invalid object and exits 1 if any; prints the kinds it could not check,
// for the caller to judge.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const modules = process.env.JICENG_CI_NODE_MODULES;
const models = {
  'gateway.networking.k8s.io/v1': join(
    modules,
    '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/index.js',
  ),
  'monitoring.coreos.com/v1': join(
    modules,
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/index.js',
  ),
};

const objects = JSON.parse(readFileSync(0, 'utf8'));
let failed = 0;
for (const object of objects) {
  const where = `${object.kind} ${object.metadata?.name}`;
  const path = models[object.apiVersion];
  const model = path && (await import(path))[object.kind];
  if (!model) {
    console.log(`unchecked ${object.apiVersion} ${object.kind}`);
    continue;
  }
  try {
    new model(object).validate();
  } catch (error) {
    failed += 1;
    console.log(`invalid ${where}: ${error.message}`);
  }
}
process.exit(failed ? 1 : 0);
