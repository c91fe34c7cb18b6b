/* attest.h - signing keys, DSSE envelopes, in-toto Statement v1 with SLSA provenance v1, Sigstore bundles v0.3
 * (keyed, no transparency log) and their verification. Formats and the commands that verify them without mrun:
 * docs/supply-chain.md. The coordinator signs with its own key; keys never enter a sandbox or a workspace.
 *
 * The coordinator's flow is one struct fill and two calls:
 *     mrun_provenance p = {.subjects = subj, .nsubjects = n, .builder_id = ..., ...};
 *     mrun_attest_statement(&p, &stmt, &stmt_len, &err);                       // in-toto Statement JSON
 *     mrun_attest_sign_statement(key, stmt, stmt_len, true, &bundle, &err);     // Sigstore bundle (false: DSSE)
 * Every function is pure computation over its arguments except the *_file / *_write / *_load ones, which do I/O.
 * Nothing here keeps global state; objects are used by one thread at a time. */
#ifndef MRUN_ATTEST_H
#define MRUN_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define MRUN_DSSE_PAYLOAD_TYPE   "application/vnd.in-toto+json"
#define MRUN_STATEMENT_TYPE      "https://in-toto.io/Statement/v1"
#define MRUN_SLSA_PREDICATE_TYPE "https://slsa.dev/provenance/v1"
#define MRUN_BUILD_TYPE          "https://mrun.dev/buildtypes/stage/v1"
#define MRUN_BUNDLE_MEDIA_TYPE   "application/vnd.dev.sigstore.bundle.v0.3+json"
#define MRUN_ATTEST_MAX_BYTES    (16u << 20) /* an attestation file, envelope or bundle */
#define MRUN_DSSE_MAX_SIGS       16

/* ---- keys (attest_keys.c) ---- */
typedef enum mrun_key_type { MRUN_KEY_ECDSA_P256 = 0, MRUN_KEY_ED25519 } mrun_key_type;
/* A private or public key (opaque; wraps an OpenSSL EVP_PKEY) and its id: the lowercase hex sha256 of the
 * public key's DER SubjectPublicKeyInfo. Only ECDSA P-256 and Ed25519 are accepted. */
typedef struct mrun_key mrun_key;

/* "ecdsa-p256" / "ed25519" -> type; EINVAL otherwise. */
int mrun_attest_key_type_parse(const char *s, mrun_key_type *ret_type, mrun_err *err);
int mrun_attest_key_generate(mrun_key_type type, mrun_key **ret_key, mrun_err *err);
/* Writes PREFIX.key (PKCS#8 PEM, mode 0600, AES-256-CBC with PBKDF2 when passphrase is not NULL) and PREFIX.pub
 * (SubjectPublicKeyInfo PEM, 0644), both created with O_EXCL|O_NOFOLLOW: EEXIST unless force (then an existing
 * file or symlink is unlinked first, never written through). key must be private. */
int mrun_attest_key_write(const mrun_key *key, const char *prefix, const char *passphrase, bool force, mrun_err *err);
/* Loads a PEM private key (PKCS#8, encrypted or not; passphrase may be NULL). An encrypted key without a
 * passphrase or with a wrong one fails with EPERM and says so; never prompts on a terminal. */
int mrun_attest_key_load_private(const char *path, const char *passphrase, mrun_key **ret_key, mrun_err *err);
/* Loads a PEM public key (SubjectPublicKeyInfo "PUBLIC KEY"); a private key file is accepted too (public half). */
int mrun_attest_key_load_public(const char *path, mrun_key **ret_key, mrun_err *err);
int mrun_attest_key_parse_public(const uint8_t *pem, size_t len, mrun_key **ret_key, mrun_err *err);
/* Borrowed until the key is freed: 64 lowercase hex digits. */
const char *mrun_attest_key_id(const mrun_key *key);
mrun_key_type mrun_attest_key_get_type(const mrun_key *key);
void mrun_attest_key_free(mrun_key *key);
void mrun_attest_key_freep(mrun_key **key);

/* Reads a regular file of at most max bytes (E2BIG past it), NUL-terminated; free() it. */
int mrun_attest_read_file(const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len, mrun_err *err);
/* sha256 of a file's contents (streamed, any size) as 64 lowercase hex digits plus NUL. */
int mrun_attest_file_sha256(const char *path, char ret_hex[65], mrun_err *err);

/* ---- DSSE (attest_dsse.c) ---- */
typedef struct mrun_dsse_sig {
    char *keyid; /* "" when absent */
    uint8_t *sig;
    size_t sig_len;
} mrun_dsse_sig;
/* A parsed or freshly signed envelope; owns every pointer in it. */
typedef struct mrun_dsse {
    char *payload_type;
    uint8_t *payload; /* decoded; NUL-terminated for convenience (not counted in payload_len) */
    size_t payload_len;
    mrun_dsse_sig sigs[MRUN_DSSE_MAX_SIGS];
    size_t nsigs;
} mrun_dsse;

/* Signs PAE(payload_type, payload) (PAE = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body): ECDSA P-256 with SHA-256
 * (DER-encoded signature), Ed25519 pure. The signature's keyid is the key's id. key must be private. */
int mrun_attest_dsse_sign(const mrun_key *key, const char *payload_type, const uint8_t *payload, size_t len,
                          mrun_dsse **ret_env, mrun_err *err);
/* Parses envelope JSON {payload, payloadType, signatures[{keyid, sig}]} (standard or URL-safe base64, bounded:
 * MRUN_ATTEST_MAX_BYTES, MRUN_DSSE_MAX_SIGS). Errors (EPROTO) say which field is wrong. Pure, fuzzable. */
int mrun_attest_dsse_parse(const uint8_t *buf, size_t len, mrun_dsse **ret_env, mrun_err *err);
/* Compact envelope JSON with standard base64; free() it. */
int mrun_attest_dsse_json(const mrun_dsse *env, char **ret_json, mrun_err *err);
/* 0 when a signature whose keyid is empty or equals the key's id verifies over the PAE with pub; otherwise EPERM
 * "signature does not verify with key <id>" (or which keyids the envelope names instead). */
int mrun_attest_dsse_verify(const mrun_dsse *env, const mrun_key *pub, mrun_err *err);
void mrun_attest_dsse_free(mrun_dsse *env);
void mrun_attest_dsse_freep(mrun_dsse **env);

/* ---- SLSA provenance v1 in an in-toto Statement v1 (attest_slsa.c) ---- */
typedef struct mrun_attest_digest {
    const char *name;   /* artifact path as published, e.g. "dist/app.tar.gz" */
    const char *sha256; /* 64 hex digits */
} mrun_attest_digest;

/* What the coordinator knows when a stage with artifacts passes. Every pointer is borrowed for the duration of
 * mrun_attest_statement only. NULL optional fields are left out of the statement. */
typedef struct mrun_provenance {
    const mrun_attest_digest *subjects; /* required, >= 1 */
    size_t nsubjects;
    const char *pipeline_file;    /* path of the pipeline file in the source, e.g. "mrun.yml" */
    const char *pipeline_sha256;  /* with pipeline_file (the coordinator always has both; `mrun attest` may not) */
    const char *event, *ref;      /* optional: "push"/"api"/"retry", a branch or tag */
    const char *stage;            /* required */
    const char *agent;            /* optional: LLM agent named by `mrun submit --agent` (a claim of the submitter) */
    const char *submitter;        /* optional: identity the coordinator authenticated (token name) */
    const char *runner_id;        /* optional */
    const char *limits_json;      /* optional: sandbox limits as a JSON object, e.g. {"memory":"512M","cpus":"1"} */
    const char *source_sha256;    /* digest of the submitted source archive (resolvedDependencies "source") */
    const char *source_uri;       /* optional, e.g. "mrun:pipeline/42/source.tar" */
    const char *toolchain_uri;    /* optional: base image / toolchain identity as a URI, e.g. "pkg:deb/debian/gcc-12" */
    const char *toolchain_sha256; /* optional */
    const char *builder_id;       /* required: the coordinator's id, a URI */
    const char *invocation_id;    /* optional: e.g. "<pipeline id>/<stage>/<attempt>" */
    int64_t started_ms, finished_ms;      /* unix ms; 0 leaves the field out */
    const mrun_attest_digest *byproducts; /* optional: the SBOM and the like */
    size_t nbyproducts;
} mrun_provenance;

/* The Statement as compact JSON with a stable key order (same input, same bytes). EINVAL names a missing or
 * malformed field. free() *ret_json. */
int mrun_attest_statement(const mrun_provenance *p, char **ret_json, size_t *ret_len, mrun_err *err);

/* ---- Sigstore bundle v0.3 (attest_bundle.c) ---- */
/* Bundle JSON carrying env, with verificationMaterial.publicKey.hint = the key's id and no tlog entries. */
int mrun_attest_bundle_json(const mrun_dsse *env, const mrun_key *key, char **ret_json, mrun_err *err);
/* Parses a bundle (media type v0.3, or v0.1/v0.2 with a DSSE envelope); *ret_hint is the public-key hint or
 * NULL. Pure, bounded, fuzzable. */
int mrun_attest_bundle_parse(const uint8_t *buf, size_t len, mrun_dsse **ret_env, char **ret_hint, mrun_err *err);
/* Signs a statement as DSSE and returns the envelope JSON, or a bundle JSON when bundle. free() it. */
int mrun_attest_sign_statement(const mrun_key *key, const char *statement, size_t len, bool bundle, char **ret_json,
                               mrun_err *err);

/* ---- verification (attest_verify.c) ---- */
typedef enum mrun_verify_check {
    MRUN_VERIFY_OK = 0,
    MRUN_VERIFY_FORMAT,    /* not an envelope, a bundle or a .intoto.jsonl line */
    MRUN_VERIFY_SIGNATURE, /* no signature verifies with the key */
    MRUN_VERIFY_STATEMENT, /* payload is not an in-toto Statement v1 (or not SLSA v1 when expectations need it) */
    MRUN_VERIFY_SUBJECT,   /* the artifact's digest is not a subject */
    MRUN_VERIFY_SOURCE,    /* --expect-source */
    MRUN_VERIFY_BUILDER,   /* --expect-builder */
} mrun_verify_check;

typedef struct mrun_verify_expect {
    const char *source_sha256; /* NULL: not checked; "sha256:" prefix allowed */
    const char *builder_id;    /* NULL: not checked */
} mrun_verify_expect;

/* Verifies an attestation (envelope JSON, bundle JSON, or .intoto.jsonl with one envelope per line: passes when
 * one line passes) for an artifact digest. artifact_name (may be NULL) only appears in messages. On failure
 * returns -1, sets *failed (may be NULL) to the check that failed and err to a message naming it, e.g.
 * "artifact sha256:ab12... is not a subject of the statement". Pure. */
int mrun_attest_verify(const char *artifact_sha256, const char *artifact_name, const uint8_t *att, size_t att_len,
                       const mrun_key *pub, const mrun_verify_expect *expect, mrun_verify_check *failed, mrun_err *err);
const char *mrun_attest_check_name(mrun_verify_check c); /* "signature", "subject", ... */

#endif
