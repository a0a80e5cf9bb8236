// The official openai npm client against `ratelab mock`: a completion, a
// stream, and a 429 that the SDK must recognise as a RateLimitError and retry
// after exactly the delay the mock asked for. Run by tests/check_mock_npm
// (openai_npm_client); by hand: RATELAB=build/ratelab node tests/npm/test.mjs
//
// Exit 0 when every check holds; 1 with a message otherwise.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import OpenAI from 'openai';
import { VERSION } from 'openai/version';

const ratelab = process.env.RATELAB ?? new URL('../../build/ratelab', import.meta.url).pathname;
const KEY = 'sk-ratelab-npm-test';

// TPM 6000 refills 100 tokens a second; answers are 5 tokens long whatever
// max_tokens says, so max_tokens alone sets what a request costs.
const scenario = `[scenario]
name = npm-client
seed = 7

[server]
tokens_per_minute = 6000
headers = openai
ttft = 2ms
decode_per_token = 1ms

[class.chat]
arrival = poisson 1/s
completion_tokens = const 5

[live]
model = chat
`;

function startMock() {
    const dir = mkdtempSync(join(tmpdir(), 'ratelab-npm-'));
    const path = join(dir, 'mock.ini');
    writeFileSync(path, scenario);
    const child = spawn(ratelab, ['mock', path, '--listen', '127.0.0.1:0',
                                  '--api-key-env', 'RATELAB_NPM_KEY'], {
        env: { ...process.env, RATELAB_NPM_KEY: KEY },
        stdio: ['ignore', 'pipe', 'inherit'],
    });
    const addr = new Promise((resolve, reject) => {
        const lines = createInterface({ input: child.stdout });
        lines.once('line', (line) => {
            const m = /^listening on (\S+)$/.exec(line);
            m ? resolve(m[1]) : reject(new Error(`unexpected first line: ${line}`));
        });
        child.once('exit', (code) => reject(new Error(`ratelab mock exited with ${code}`)));
    });
    return { child, addr, dir };
}

async function stopMock({ child, dir }) {
    const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, sig })));
    child.kill('SIGTERM');
    const { code } = await exited;
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, 'ratelab mock should exit 0 on SIGTERM (no leaks)');
}

async function main() {
    const mock = startMock();
    const addr = await mock.addr;
    const baseURL = `http://${addr}/v1`;
    // Every attempt the SDK makes goes through this fetch, so retries are visible.
    const attempts = [];
    const fetchSpy = async (url, init) => {
        const started = performance.now();
        const res = await fetch(url, init);
        attempts.push({ status: res.status, started, ended: performance.now(),
                        retryAfterMs: res.headers.get('retry-after-ms') });
        return res;
    };
    const client = new OpenAI({ apiKey: KEY, baseURL, fetch: fetchSpy, maxRetries: 2 });
    const noRetry = new OpenAI({ apiKey: KEY, baseURL, maxRetries: 0 });
    try {
        // 1. A completion.
        const c = await client.chat.completions.create({
            model: 'chat', max_tokens: 100,
            messages: [{ role: 'user', content: 'Say hello.' }],
        });
        assert.equal(c.object, 'chat.completion');
        assert.equal(c.choices[0].message.role, 'assistant');
        assert.equal(c.usage.completion_tokens, 5);
        assert.ok(c.usage.prompt_tokens > 0);
        assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + 5);

        // 2. A stream, with usage in the last chunk.
        const stream = await client.chat.completions.create({
            model: 'chat', max_tokens: 100, stream: true, stream_options: { include_usage: true },
            messages: [{ role: 'user', content: 'Count to five.' }],
        });
        let text = '', usage = null, finish = null, chunks = 0;
        for await (const chunk of stream) {
            chunks++;
            if (chunk.usage) usage = chunk.usage;
            for (const ch of chunk.choices) {
                text += ch.delta?.content ?? '';
                finish = ch.finish_reason ?? finish;
            }
        }
        assert.ok(chunks >= 7, `chunks: ${chunks}`);
        assert.ok(text.length > 0);
        assert.equal(finish, 'stop');
        assert.equal(usage?.completion_tokens, 5);

        // 3. A wrong key is an AuthenticationError.
        const badKey = new OpenAI({ apiKey: 'sk-wrong', baseURL, maxRetries: 0 });
        await assert.rejects(badKey.models.list(), (e) => e instanceof OpenAI.AuthenticationError);

        // 4. Drain the TPM bucket to about 20 tokens (the prompt 'x' costs 8: 1 + 4 per
        // message + 3), then a request for 68 does not fit: a RateLimitError.
        const big = { model: 'chat', messages: [{ role: 'user', content: 'x' }] };
        const { response } = await noRetry.chat.completions
            .create({ ...big, max_tokens: 1 }).withResponse();
        const remaining = Number(response.headers.get('x-ratelimit-remaining-tokens'));
        assert.ok(remaining > 1000, `x-ratelimit-remaining-tokens: ${remaining}`);
        await noRetry.chat.completions.create({ ...big, max_tokens: remaining - 8 - 20 });
        let asked;
        await assert.rejects(noRetry.chat.completions.create({ ...big, max_tokens: 60 }), (e) => {
            assert.ok(e instanceof OpenAI.RateLimitError, `not a RateLimitError: ${e}`);
            assert.equal(e.status, 429);
            assert.equal(e.code, 'rate_limit_exceeded');
            assert.equal(e.type, 'tokens');
            asked = Number(e.headers.get('retry-after-ms'));
            return true;
        });
        assert.ok(asked > 50 && asked < 10000, `retry-after-ms: ${asked}`);

        // 5. The same request with retries on: 429, wait what the mock asked, then 200.
        attempts.length = 0;
        const r = await client.chat.completions.create({ ...big, max_tokens: 60 });
        assert.equal(r.usage.completion_tokens, 5);
        assert.ok(attempts.length >= 2, `attempts: ${JSON.stringify(attempts)}`);
        const first = attempts[0], last = attempts[attempts.length - 1];
        assert.equal(first.status, 429);
        assert.equal(last.status, 200);
        const wait = attempts[1].started - first.ended;
        const want = Number(first.retryAfterMs);
        assert.ok(wait >= want - 5, `retried after ${wait.toFixed(1)} ms, asked ${want} ms`);
        assert.ok(wait < want + 1000, `retried after ${wait.toFixed(1)} ms, asked ${want} ms`);
        console.log(`openai ${VERSION}: completion, stream, 401, 429 ` +
                    `(retry-after-ms ${want}, SDK waited ${wait.toFixed(1)} ms): ok`);
    } finally {
        await stopMock(mock);
    }
}

main().catch((e) => {
    console.error('tests/npm/test.mjs:', e);
    process.exit(1);
});
