// An independent client of claims.v1.ClaimGateway: @grpc/grpc-js + @grpc/proto-loader,
// int64 as strings, mutual TLS with a `claimgate dev-certs` institution certificate.
//
//   node client.js CONFIG.json
//
// CONFIG names the gateway, the certificates, the proto, two institutions (a pharmacy
// and a hospital) and two members. The client drives the main transactions and prints
// one JSON line per check ({"check", "ok", "detail"}), then a summary line
// ({"summary": {...}}) with the ids it created, for the caller to verify on its side.
// It exits 1 when a check fails.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const LOADER = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

const claimsDef = protoLoader.loadSync(cfg.proto, LOADER);
const claims = grpc.loadPackageDefinition(claimsDef).claims.v1;
const reflectionProto = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')),
  'build', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto');
const reflectionV1 = grpc.loadPackageDefinition(
  protoLoader.loadSync(reflectionProto, LOADER)).grpc.reflection.v1;

function credentials(who) {
  return grpc.credentials.createSsl(
    fs.readFileSync(cfg.ca), fs.readFileSync(cfg.keys[who]), fs.readFileSync(cfg.certs[who]));
}
const pharmacy = new claims.ClaimGateway(cfg.address, credentials('pharmacy'));
const hospital = new claims.ClaimGateway(cfg.address, credentials('hospital'));

let failures = 0;
function check(name, ok, detail) {
  if (!ok) failures += 1;
  console.log(JSON.stringify({ check: name, ok: Boolean(ok), detail: detail === undefined ? null : detail }));
}

function call(client, method, request) {
  return new Promise((resolve) => {
    client[method](request, { deadline: Date.now() + 30000 }, (err, reply) => resolve({ err, reply }));
  });
}

function upload(client, chunks) {
  return new Promise((resolve) => {
    const stream = client.UploadFeeDetails({ deadline: Date.now() + 30000 },
      (err, reply) => resolve({ err, reply }));
    for (const c of chunks) stream.write(c);
    stream.end();
  });
}

let seq = 0;
function rid(inst) {
  seq += 1;
  return `${inst}-node-${process.pid}-${seq}`;
}

function feeLine(sn, code, price, qty, extra) {
  // int64 fields go out as decimal strings: no precision is lost above 2^53.
  return Object.assign({ feedetl_sn: sn, item_code: code, unit_price_fen: String(price),
    quantity: String(qty), amount_fen: String(BigInt(price) * BigInt(qty)) }, extra || {});
}

function pharmacyClaim(requestId, lines) {
  const m = cfg.members.pharmacy;
  return { request_id: requestId, institution_code: cfg.institutions.pharmacy, psn_no: m.psn_no,
    setting: 'PHARMACY', card_no: m.card_no, service_date: cfg.today, use_account: true, lines };
}

async function listServicesV1() {
  const client = new reflectionV1.ServerReflection(cfg.address, credentials('pharmacy'));
  return new Promise((resolve) => {
    const stream = client.ServerReflectionInfo({ deadline: Date.now() + 30000 });
    let names = null;
    stream.on('data', (resp) => {
      if (resp.list_services_response) names = resp.list_services_response.service.map((s) => s.name);
    });
    stream.on('error', (err) => resolve({ err, names }));
    stream.on('end', () => resolve({ err: null, names }));
    stream.write({ list_services: '' });
    stream.end();
  });
}

async function main() {
  const P = cfg.institutions.pharmacy;
  const H = cfg.institutions.hospital;
  const pm = cfg.members.pharmacy;
  const hm = cfg.members.hospital;
  const summary = {};

  // Reflection v1, as current tools ask for it.
  const refl = await listServicesV1();
  check('reflection v1 lists the gateway', !refl.err && refl.names && refl.names.includes('claims.v1.ClaimGateway'),
    refl.err ? refl.err.message : refl.names);

  // 1101 eligibility: balances arrive as int64 strings.
  let r = await call(pharmacy, 'CheckEligibility', { institution_code: P, psn_no: pm.psn_no, card_no: pm.card_no });
  check('eligibility', !r.err && r.reply.eligible === true && r.reply.acct_current_balance_fen === String(pm.acct_current_fen)
    && typeof r.reply.acct_prior_balance_fen === 'string', r.err ? r.err.message : r.reply);

  // 2101 pre-settle: a quote, nothing written.
  const lines = [feeLine(1, cfg.items.drug, 1250, 2, { prescription_no: `RX-NODE-${process.pid}-1` }),
    feeLine(2, cfg.items.material, 400, 1)];
  r = await call(pharmacy, 'PreSettle', pharmacyClaim(rid(P), lines));
  check('pre-settle quotes', !r.err && r.reply.status === 'QUOTED' && r.reply.settlement_id === ''
    && r.reply.amounts.medfee_sumamt_fen === '2900', r.err ? r.err.message : r.reply);
  const quote = r.reply;

  // 2102 settle, then the same request again: the stored response, marked as a replay.
  const settleId = rid(P);
  r = await call(pharmacy, 'Settle', pharmacyClaim(settleId, lines));
  const settled = r.reply;
  check('settle', !r.err && settled.status === 'SETTLED' && settled.settlement_id.startsWith('S')
    && settled.replay === false && settled.lines.length === 2
    && quote && JSON.stringify(settled.amounts) === JSON.stringify(quote.amounts), r.err ? r.err.message : settled);
  const amounts = settled ? settled.amounts : {};
  const sum = ['hifp_pay_fen', 'supplementary_pay_fen', 'hifmi_pay_fen', 'maf_pay_fen']
    .reduce((a, k) => a + BigInt(amounts[k] || '0'), 0n);
  check('fund total is the sum of the funds (int64 strings)', settled && sum === BigInt(amounts.fund_pay_sumamt_fen),
    amounts);
  r = await call(pharmacy, 'Settle', pharmacyClaim(settleId, lines));
  check('settle replay', !r.err && r.reply.replay === true && settled && r.reply.settlement_id === settled.settlement_id,
    r.err ? r.err.message : r.reply);
  summary.settlement_id = settled ? settled.settlement_id : '';

  // 5203 query by settlement id, and by member + request id.
  r = await call(pharmacy, 'GetSettlement', { institution_code: P, settlement_id: summary.settlement_id });
  check('get settlement by id', !r.err && r.reply.settlement_id === summary.settlement_id && r.reply.status === 'SETTLED',
    r.err ? r.err.message : r.reply);
  r = await call(pharmacy, 'GetSettlement', { institution_code: P, psn_no: pm.psn_no, request_id: settleId });
  check('get settlement by request id', !r.err && r.reply.settlement_id === summary.settlement_id,
    r.err ? r.err.message : r.reply);

  // 3201 reconcile: nothing declared is a MISMATCH; declaring the gateway's totals MATCHes.
  const span = { institution_code: P, from_date: cfg.from_date, to_date: cfg.to_date };
  r = await call(pharmacy, 'Reconcile', Object.assign({ declared: {} }, span));
  check('reconcile mismatch', !r.err && r.reply.result === 'MISMATCH' && r.reply.gateway.settlement_count === '1'
    && r.reply.gateway.medfee_sumamt_fen === '2900', r.err ? r.err.message : r.reply);
  const totals = r.reply ? r.reply.gateway : {};
  r = await call(pharmacy, 'Reconcile', Object.assign({ declared: totals }, span));
  check('reconcile match', !r.err && r.reply.result === 'MATCH', r.err ? r.err.message : r.reply);

  // 2103 reverse: the balances come back.
  r = await call(pharmacy, 'ReverseSettlement', { request_id: rid(P), institution_code: P, psn_no: pm.psn_no,
    settlement_id: summary.settlement_id });
  check('reverse', !r.err && r.reply.reversal_id.startsWith('R') && r.reply.acct_current_balance_fen === String(pm.acct_current_fen),
    r.err ? r.err.message : r.reply);
  summary.reversal_id = r.reply ? r.reply.reversal_id : '';

  // 2601 cancel by request id: of a settled request, and of one never seen (tombstone).
  const cancelMe = rid(P);
  r = await call(pharmacy, 'Settle', pharmacyClaim(cancelMe, [feeLine(1, cfg.items.material, 400, 2)]));
  check('settle to cancel', !r.err && r.reply.status === 'SETTLED', r.err ? r.err.message : r.reply);
  summary.cancelled_settlement_id = r.reply ? r.reply.settlement_id : '';
  r = await call(pharmacy, 'CancelByRequest', { request_id: rid(P), institution_code: P, psn_no: pm.psn_no,
    original_request_id: cancelMe });
  check('cancel reverses', !r.err && r.reply.outcome === 'REVERSED' && r.reply.settlement_id === summary.cancelled_settlement_id,
    r.err ? r.err.message : r.reply);
  const late = rid(P);
  r = await call(pharmacy, 'CancelByRequest', { request_id: rid(P), institution_code: P, psn_no: pm.psn_no,
    original_request_id: late });
  check('cancel tombstones', !r.err && r.reply.outcome === 'TOMBSTONED', r.err ? r.err.message : r.reply);
  r = await call(pharmacy, 'Settle', pharmacyClaim(late, [feeLine(1, cfg.items.material, 400, 1)]));
  check('late original refused', r.err && r.err.code === grpc.status.FAILED_PRECONDITION,
    r.err ? `${r.err.code} ${r.err.details}` : r.reply);

  // Errors: a bad field named first, and another institution's name refused.
  r = await call(pharmacy, 'Settle', pharmacyClaim(rid(P), [feeLine(1, cfg.items.material, 400, 0)]));
  check('invalid argument names the field', r.err && r.err.code === grpc.status.INVALID_ARGUMENT
    && r.err.details.startsWith('lines[0].quantity'), r.err ? `${r.err.code} ${r.err.details}` : r.reply);
  r = await call(pharmacy, 'CheckEligibility', { institution_code: H, psn_no: pm.psn_no });
  check('another institution is refused', r.err && r.err.code === grpc.status.PERMISSION_DENIED,
    r.err ? `${r.err.code} ${r.err.details}` : r.reply);

  // 2401 / 2301 / 2402 / 2304: admit, upload fee details (client stream), discharge, settle.
  r = await call(hospital, 'Admit', { request_id: rid(H), institution_code: H, psn_no: hm.psn_no,
    card_no: hm.card_no, admission_date: cfg.admission_date, diagnosis_code: 'I21.0' });
  check('admit', !r.err && r.reply.status === 'OPEN' && r.reply.episode_id.startsWith('E'), r.err ? r.err.message : r.reply);
  const episode = r.reply ? r.reply.episode_id : '';
  summary.episode_id = episode;
  const chunk = (sns) => ({ request_id: rid(H), institution_code: H, psn_no: hm.psn_no, episode_id: episode,
    lines: sns.map(([sn, code, price]) => feeLine(sn, code, price, 1)) });
  r = await upload(hospital, [chunk([[1, cfg.items.drug, 80000], [2, cfg.items.material, 300]]),
    chunk([[3, cfg.items.drug, 15000]])]);
  check('upload fee details', !r.err && r.reply.lines_received === 3 && r.reply.lines_added === 3
    && r.reply.episode_amount_fen === '95300', r.err ? r.err.message : r.reply);
  r = await upload(hospital, [chunk([[2, cfg.items.material, 300]])]);
  check('upload re-send is a no-op', !r.err && r.reply.lines_added === 0 && r.reply.lines_unchanged === 1
    && r.reply.episode_line_count === 3, r.err ? r.err.message : r.reply);
  const inpatient = { request_id: rid(H), institution_code: H, psn_no: hm.psn_no, setting: 'INPATIENT',
    card_no: hm.card_no, service_date: cfg.today, use_account: true, episode_id: episode };
  r = await call(hospital, 'Settle', inpatient);
  check('settle before discharge refused', r.err && r.err.code === grpc.status.FAILED_PRECONDITION,
    r.err ? `${r.err.code} ${r.err.details}` : r.reply);
  r = await call(hospital, 'Discharge', { request_id: rid(H), institution_code: H, psn_no: hm.psn_no,
    episode_id: episode, discharge_date: cfg.today });
  check('discharge', !r.err && r.reply.status === 'DISCHARGED', r.err ? r.err.message : r.reply);
  inpatient.request_id = rid(H);
  r = await call(hospital, 'Settle', inpatient);
  check('inpatient settle', !r.err && r.reply.status === 'SETTLED' && r.reply.amounts.medfee_sumamt_fen === '95300',
    r.err ? r.err.message : r.reply);
  summary.inpatient_settlement_id = r.reply ? r.reply.settlement_id : '';

  console.log(JSON.stringify({ summary }));
  pharmacy.close();
  hospital.close();
  return failures === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  console.log(JSON.stringify({ check: 'client', ok: false, detail: String(err && err.stack) }));
  process.exit(1);
});
