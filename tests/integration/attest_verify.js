// attest_verify.js - verifies an mrun Sigstore bundle v0.3 (keyed, no tlog) with sigstore-js, the way a security
// team would without mrun: @sigstore/bundle parses and validates it, @sigstore/verify checks the DSSE signature
// against the public key named by the bundle's hint, then the script checks the artifact's sha256 is a subject.
// usage: NODE_PATH=.../node_modules node attest_verify.js BUNDLE PUBLIC.pem ARTIFACT   (exit 0 = verified)
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const [bundlePath, pubPath, artifactPath] = process.argv.slice(2);
try {
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const hint = bundle.verificationMaterial.content.publicKey.hint;
  const key = crypto.createPublicKey(fs.readFileSync(pubPath, 'utf8'));
  // A trusted root with no CA, tlog, ctlog or TSA: only the key given here is trusted, under the bundle's hint.
  const root = { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
                 tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };
  const trust = toTrustMaterial(root, (h) => {
    if (h !== hint) throw new Error(`unknown key hint ${h}`);
    return { publicKey: key, validFor: () => true };
  });
  // Keyed bundles carry no tlog entry, SCT or timestamp, so every threshold is 0.
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundle));
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== 'application/vnd.in-toto+json') throw new Error(`payloadType ${env.payloadType}`);
  const st = JSON.parse(Buffer.from(env.payload).toString('utf8'));
  if (st._type !== 'https://in-toto.io/Statement/v1') throw new Error('not an in-toto Statement v1');
  const digest = crypto.createHash('sha256').update(fs.readFileSync(artifactPath)).digest('hex');
  if (!st.subject.some((s) => s.digest && s.digest.sha256 === digest))
    throw new Error(`artifact sha256:${digest} is not a subject`);
  console.log(`sigstore-js: verified ${artifactPath} (sha256:${digest}) with key ${hint}`);
} catch (e) {
  console.error(`sigstore-js: FAILED: ${e.message}`);
  process.exit(1);
}
