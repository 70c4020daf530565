/**
 * Indicator attributes and standard field names (issue 14): the value parsers on the forms real TAP data has, the
 * attribute sets of each event type written out by hand, published events, and properties on hostile input.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import fc from 'fast-check'
import { addressesIn, bareAddress, hexHash, hostName, ipAddress, parsedUrlParts, plainUrlParts, urlParts } from '../../src/mapping/indicator-values.js'
import { indicatorAttributes } from '../../src/mapping/indicators.js'
import { standardAttributes } from '../../src/mapping/standard-fields.js'
import type { JsonObject } from '../../src/siem/types.js'

const published = JSON.parse(readFileSync(new URL('../../../test/fixtures/published/demisto-proofpoint-tap-v2.json', import.meta.url), 'utf8')) as Record<
  string,
  JsonObject[]
>

t.test('bare addresses from the display-name forms TAP sends', async (t) => {
  const cases: [string, string | undefined][] = [
    ['"A. Badguy" <badguy@evil.zz>', 'badguy@evil.zz'],
    ['Name <a@b.zz>', 'a@b.zz'],
    ['Name<a@b.zz>', 'a@b.zz'],
    ['<a@b.zz>', 'a@b.zz'],
    ['a@b.zz', 'a@b.zz'],
    ['  a@b.zz  ', 'a@b.zz'],
    ['a@b.zz>', 'a@b.zz'],
    ['Name <a@b.zz>>', 'a@b.zz'],
    ['"Smith, John & Co" <john@SMITH.ZZ>', 'john@smith.zz'],
    ['"x <y" <real@b.zz>', 'real@b.zz'],
    ['Mixed.Case@Example.ZZ', 'Mixed.Case@example.zz'],
    ["d.o'brien@corp.example", "d.o'brien@corp.example"],
    ['a@b.zz (the boss)', 'a@b.zz'],
    ['müller@bücher.example', 'müller@bücher.example'],
    ['', undefined],
    ['Undisclosed recipients:;', undefined],
    ['no address here', undefined],
    ['@b.zz', undefined],
    ['a@', undefined],
    ['a@localhost', undefined],
    ['a@1.2.3.4', undefined],
    ['Name b@c.zz', 'b@c.zz'],
    ['a@b.zz c@d.zz', undefined],
    ['a@-bad-.zz', undefined],
    ['<>', undefined],
    [`${'x'.repeat(65)}@b.zz`, undefined],
    [`a@${'b'.repeat(300)}.zz`, undefined],
  ]
  for (const [input, expected] of cases) t.equal(bareAddress(input), expected, JSON.stringify(input))
})

t.test('address lists split at commas and semicolons outside quotes and brackets', async (t) => {
  const bare = (text: string): string[] => addressesIn(text).map((a) => a.address)
  t.same(bare('"Clark Kent" <clark.kent@pharmtech.zz>; "Diana Prince" <diana.prince@pharmtech.zz>'), [
    'clark.kent@pharmtech.zz',
    'diana.prince@pharmtech.zz',
  ])
  t.same(bare('"Kent, Clark" <c@x.zz>, <d@x.zz>;e@x.zz'), ['c@x.zz', 'd@x.zz', 'e@x.zz'])
  t.same(bare('Kent, Clark <c@x.zz>'), ['c@x.zz'], 'an unquoted comma in a name leaves a part without an address')
  t.same(bare('junk; ;,'), [])
  t.same(addressesIn('Müller <m@Bücher.example>'), [{ address: 'm@bücher.example', host: 'xn--bcher-kva.example' }], 'the host in ASCII')
  t.equal(addressesIn('a@b.zz, c@d.zz'), addressesIn('a@b.zz, c@d.zz'), 'a recurring list is parsed once')
})

t.test('IP addresses: IPv4 and IPv6, validated', async (t) => {
  t.equal(ipAddress('192.0.2.255'), '192.0.2.255')
  t.equal(ipAddress(' 2001:DB8::25 '), '2001:db8::25')
  t.equal(ipAddress('[2001:db8::1]'), '2001:db8::1')
  t.equal(ipAddress('::ffff:192.0.2.1'), '::ffff:192.0.2.1')
  for (const bad of ['400.000.000', '400.0.0.1', '192.0.2', 'localhost', '', '1.2.3.4:80', 'x'.repeat(100)]) t.equal(ipAddress(bad), undefined, bad)
})

t.test('hashes by length, lower-cased', async (t) => {
  t.same(hexHash('99FA3C636CF052906047503418DF6CA9'), { kind: 'md5', value: '99fa3c636cf052906047503418df6ca9' })
  t.same(hexHash('7f2d434617264348337dafb099ac14c5b965053079feb3438e14e53a9a2c581b')?.kind, 'sha256')
  for (const bad of ['', 'badsite.zz', 'g'.repeat(64), 'a'.repeat(63), 'a'.repeat(65), 'invoice.pdf']) t.equal(hexHash(bad), undefined, bad)
})

t.test('host names: ASCII form, two labels at least', async (t) => {
  t.equal(hostName('bücher.example'), 'xn--bcher-kva.example')
  t.equal(hostName('evil.zz'), 'evil.zz')
  t.equal(hostName('localhost'), undefined)
  t.equal(hostName('a..b'), undefined)
})

t.test('URLs: parts as the semantic conventions name them, credentials and signatures redacted', async (t) => {
  t.same(urlParts('http://badguy.zz/'), { full: 'http://badguy.zz/', scheme: 'http', domain: 'badguy.zz', path: '/' })
  t.same(urlParts('https://user:pa55@Bad.Example:8443/a%20b/c?u=x%40y&sig=abc#frag'), {
    full: 'https://REDACTED:REDACTED@bad.example:8443/a%20b/c?u=x%40y&sig=REDACTED#frag',
    scheme: 'https',
    domain: 'bad.example',
    port: 8443,
    path: '/a%20b/c',
    query: 'u=x%40y&sig=REDACTED',
    fragment: 'frag',
  })
  t.equal(urlParts('https://bücher.example/x')?.domain, 'xn--bcher-kva.example', 'IDN in its ASCII form')
  t.equal(urlParts('http://[2001:db8::1]:8080/')?.domain, '[2001:db8::1]', 'IPv6 in brackets, as url.domain wants')
  for (const bad of ['badsite.zz', 'invoice.pdf', 'mailto:a@b.zz', 'http://', 'not a url', '']) t.equal(urlParts(bad), undefined, bad)
})

t.test('URLs: the parser-free path gives what the WHATWG parser gives, or steps aside', async (t) => {
  // URLs as TAP sends them take the fast path (the test would pass vacuously if it never did).
  for (const url of [
    'https://threatinsight.proofpoint.com/a1b2c3d4-0000-4000-8000-000000000000/threat/email/3b8f0e5ab2f1e6c1a3d6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8',
    'http://badguy.zz',
    'https://login.example-bank.zz:8443/verify.php?u=x%40y&sig=abc#top',
  ]) {
    t.not(plainUrlParts(url), undefined, url)
    t.same(plainUrlParts(url), parsedUrlParts(url), url)
  }
  t.equal(plainUrlParts('https://login.example-bank.zz/x?sig=abc')?.full, 'https://login.example-bank.zz/x?sig=REDACTED')
  // Forms the parser rewrites: upper case, default ports, dot segments, IPv4 forms, punycode, user info, escapes.
  for (const url of ['HTTP://a.zz/', 'http://A.zz/', 'http://a.ZZ/', 'http://a.zz:80/', 'https://a.zz:443/', 'http://a.zz:65536/', 'http://a.zz/x/../y', 'http://a.zz/%2e/', 'http://127.0.0.1/', 'http://xn--bcher-kva.example/', 'http://u@a.zz/', 'http://a.zz/a b', "http://a.zz/?q='", 'http://a.zz/??x'])
    t.equal(plainUrlParts(url), undefined, url)
  const unit = fc.constantFrom('a', 'z', 'Z', '0', '9', '-', '.', '/', '%', '2', 'e', 'E', '?', '#', '&', '=', ':', '@', "'", '^', '`', '{', ' ', '\\', '\t', 'é', 'x', 'n', 'sig=')
  const urlish = fc.oneof(
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc.tuple(fc.constantFrom('http://', 'https://', 'HTTPS://', 'ftp://'), fc.string({ unit, maxLength: 40 })).map(([a, b]) => a + b),
    fc.tuple(fc.constantFrom('http://a.zz', 'https://x.example-1.zz:', 'http://xn--a.zz'), fc.string({ unit, maxLength: 40 })).map(([a, b]) => a + b),
    // Host names label by label, with ports and paths drawn from the characters that matter.
    fc
      .tuple(
        fc.constantFrom('http://', 'https://'),
        fc.array(fc.string({ unit: fc.constantFrom('a', 'Z', '0', '1', '-', 'x', 'n', 'é'), minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 4 }),
        fc.option(fc.constantFrom(':80', ':443', ':8080', ':0', ':65536', ':08')),
        fc.string({ unit, maxLength: 20 }),
      )
      .map(([scheme, labels, port, rest]) => scheme + labels.join('.') + (port ?? '') + '/' + rest),
  )
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(urlish, (url) => {
        const plain = plainUrlParts(url)
        return plain === undefined || JSON.stringify(plain) === JSON.stringify(parsedUrlParts(url))
      }),
      { numRuns: 3000 },
    ),
  )
})

t.test('a delivered message: indicators and standard fields, written out by hand', async (t) => {
  const event: JsonObject = {
    messageTime: '2026-11-20T10:00:00Z',
    fromAddress: ['billing@PAYPA1-SECURE.example'],
    headerFrom: '"Billing, Dept. & Co" <billing@paypa1-secure.example>',
    headerReplyTo: 'Reply<reply@evil.example>',
    replyToAddress: ['reply@evil.example'],
    sender: 'bounce@mailer.example',
    senderIP: '2001:DB8::25',
    toAddresses: ['bob@corp.example'],
    recipient: ['bob@corp.example', 'carol@corp.example'],
    ccAddresses: ["d.o'brien@corp.example", 'not an address'],
    subject: 'Invoice',
    messageID: '<81cff6267507@mail.example>',
    xmailer: 'Evil Mailer 1.0',
    messageParts: [
      { filename: 'text.txt', contentType: 'text/plain', md5: '99FA3C636CF052906047503418DF6CA9', sha256: '7f2d434617264348337dafb099ac14c5b965053079feb3438e14e53a9a2c581b' },
      { filename: 'text.txt', contentType: 'text/plain', md5: '99fa3c636cf052906047503418df6ca9', sha256: '7f2d434617264348337dafb099ac14c5b965053079feb3438e14e53a9a2c581b' },
      { filename: 'invoice.zip', contentType: 'application/zip', md5: null, sha256: 'b'.repeat(64) },
    ],
    threatsInfoMap: [
      { threatUrl: 'https://threatinsight.proofpoint.com/t/1', threat: 'https://bad.example/login?u=1', threatType: 'url' },
      { threatUrl: 'https://threatinsight.proofpoint.com/t/2', threat: 'c'.repeat(64), threatType: 'ATTACHMENT' },
      { threat: 'invoice.zip', threatType: 'attachment' },
      { threat: 'badsite.zz', threatType: 'URL' },
    ],
  }
  t.same(indicatorAttributes(event, 'message'), {
    'related.email': [
      'bounce@mailer.example',
      'billing@paypa1-secure.example',
      'bob@corp.example',
      'carol@corp.example',
      'reply@evil.example',
      "d.o'brien@corp.example",
    ],
    'related.ip': ['2001:db8::25'],
    'related.url': ['https://threatinsight.proofpoint.com/t/1', 'https://bad.example/login?u=1', 'https://threatinsight.proofpoint.com/t/2'],
    'related.hosts': ['mailer.example', 'paypa1-secure.example', 'corp.example', 'evil.example', 'threatinsight.proofpoint.com', 'bad.example', 'badsite.zz'],
    'related.hash': ['c'.repeat(64), '99fa3c636cf052906047503418df6ca9', '7f2d434617264348337dafb099ac14c5b965053079feb3438e14e53a9a2c581b', 'b'.repeat(64)],
  })
  const flat = standardAttributes(event, 'message', 'flat')
  t.same(flat, {
    'email.sender.address': ['bounce@mailer.example'],
    'email.to.address': ['bob@corp.example', 'carol@corp.example'],
    'email.message_id': '81cff6267507@mail.example',
    'source.address': '2001:db8::25',
    'email.from.address': ['billing@paypa1-secure.example'],
    'email.cc.address': ["d.o'brien@corp.example"],
    'email.reply_to.address': ['reply@evil.example'],
    'email.subject': 'Invoice',
    'email.x_mailer': 'Evil Mailer 1.0',
    'email.attachments.file.name': ['text.txt', 'invoice.zip'],
    'email.attachments.file.mime_type': ['text/plain', 'application/zip'],
    'email.attachments.file.hash.md5': ['99fa3c636cf052906047503418df6ca9', ''],
    'email.attachments.file.hash.sha256': ['7f2d434617264348337dafb099ac14c5b965053079feb3438e14e53a9a2c581b', 'b'.repeat(64)],
  })
  const nested = standardAttributes(event, 'message', 'nested')
  t.same(nested['email.attachments'], [
    {
      file: {
        name: 'text.txt',
        mime_type: 'text/plain',
        hash: { md5: '99fa3c636cf052906047503418df6ca9', sha256: '7f2d434617264348337dafb099ac14c5b965053079feb3438e14e53a9a2c581b' },
      },
    },
    { file: { name: 'invoice.zip', mime_type: 'application/zip', hash: { sha256: 'b'.repeat(64) } } },
  ])
  t.notOk('email.attachments.file.name' in nested, 'nested: one array of objects, no index-aligned arrays')
})

t.test('a click: url.*, client.address, user_agent.original and the e-mail fields', async (t) => {
  const event: JsonObject = {
    clickTime: '2026-11-20T10:00:00Z',
    clickIP: '198.51.100.2',
    senderIP: '400.000.000',
    sender: 'noreply@docu-sign.example',
    recipient: 'Bob <bob@corp.example>',
    messageID: '<cc937e29d518@mail.example>',
    url: "http://bad.example/e163c5?u=d.o'brien%40corp.example",
    threatURL: 'https://threatinsight.proofpoint.com/24195b31/threat/email/2d6f',
    userAgent: 'Mozilla/5.0',
  }
  t.same(standardAttributes(event, 'click', 'flat'), {
    'email.sender.address': ['noreply@docu-sign.example'],
    'email.to.address': ['bob@corp.example'],
    'email.message_id': 'cc937e29d518@mail.example',
    'client.address': '198.51.100.2',
    'user_agent.original': 'Mozilla/5.0',
    'url.full': 'http://bad.example/e163c5?u=d.o%27brien%40corp.example',
    'url.scheme': 'http',
    'url.domain': 'bad.example',
    'url.path': '/e163c5',
    'url.query': 'u=d.o%27brien%40corp.example',
  })
  t.same(indicatorAttributes(event, 'click'), {
    'related.email': ['noreply@docu-sign.example', 'bob@corp.example'],
    'related.ip': ['198.51.100.2'],
    'related.url': ['http://bad.example/e163c5?u=d.o%27brien%40corp.example', 'https://threatinsight.proofpoint.com/24195b31/threat/email/2d6f'],
    'related.hosts': ['docu-sign.example', 'corp.example', 'bad.example', 'threatinsight.proofpoint.com'],
  }, 'the invalid senderIP is left out')
  t.same(indicatorAttributes({ url: 'http://[2001:db8::1]/x' }, 'click'), { 'related.url': ['http://[2001:db8::1]/x'], 'related.ip': ['2001:db8::1'] })
})

t.test('a distribution list: 40 recipients, half of them repeated, each once and in the order first seen', async (t) => {
  // Past 16 values the dedup switches from a plain array to a Set: both sides of the switch are exercised here.
  const unique = Array.from({ length: 40 }, (_, i) => `user${i}@corp${i % 3}.example`)
  const toAddresses = [...unique.slice(0, 20), ...unique.slice(0, 20).reverse(), ...unique.slice(20)]
  const event: JsonObject = { toAddresses, recipient: [unique[39]!, unique[0]!], sender: unique[5]! }
  // The sender comes first: it is the first e-mail field read.
  t.same(indicatorAttributes(event, 'message')['related.email'], [unique[5], ...unique.filter((a) => a !== unique[5])])
  t.same(indicatorAttributes(event, 'message')['related.hosts'], ['corp2.example', 'corp0.example', 'corp1.example'])
  t.same(standardAttributes(event, 'message', 'flat')['email.to.address'], unique)
})

t.test('missing, null, empty and wrongly typed fields give no attribute and never throw', async (t) => {
  const empty: JsonObject = { fromAddress: [], toAddresses: null, ccAddresses: [null, 5], messageParts: [null, 'x', {}], threatsInfoMap: 'x', senderIP: 7 }
  t.same(indicatorAttributes(empty, 'message'), {})
  t.same(standardAttributes(empty, 'message', 'flat'), {})
  t.same(standardAttributes({ url: 'not a url', clickIP: 'nope', userAgent: '' }, 'click', 'flat'), {})
})

t.test('threats as the API writes them: URLs without a scheme, bare domains, IPs, impostor addresses', async (t) => {
  const threats = [
    { threat: 'example.com/xyz/', threatType: 'url' },
    { threat: 'badsite.example', threatType: 'URL' },
    { threat: '203.0.113.9/dl.php?x=1', threatType: 'url' },
    { threat: 'impostor@evil.example', threatType: 'message' },
    { threat: 'invoice docm', threatType: 'url' },
    { threat: 'report.pdf', threatType: 'attachment' },
  ]
  const related = indicatorAttributes({ threatsInfoMap: threats }, 'message')
  t.same(related['related.url'], ['example.com/xyz/', '203.0.113.9/dl.php?x=1'], 'scheme-less URLs, as given')
  t.same(related['related.hosts'], ['example.com', 'badsite.example', 'evil.example'], 'their hosts, the bare domain, the impostor\'s domain')
  t.same(related['related.ip'], ['203.0.113.9'])
  t.same(related['related.email'], ['impostor@evil.example'])
})

t.test('published events (demisto/content, the TAP documentation samples)', async (t) => {
  const message = published.messagesDelivered?.[0] ?? {}
  const related = indicatorAttributes(message, 'message')
  t.same(related['related.email'], [
    'e99d7ed5580193f36a51f597bc2c0210@evil.zz',
    'badguy@evil.zz',
    'clark.kent@pharmtech.zz',
    'diana.prince@pharmtech.zz',
    'bruce.wayne@university-of-education.zz',
  ], 'fromAddress given as a string counts')
  t.same(related['related.hash'], ['2fab740f143fc1aa4c1cd0146d334c5593b1428f6d062b2c406e5efe8abe95ca'], 'the ATTACHMENT threat is a SHA-256')
  t.notOk((related['related.url'] as string[]).includes('badsite.zz'), 'a bare domain threat is not a URL')
  t.ok((related['related.hosts'] as string[]).includes('badsite.zz'), 'but a host: the threat itself is searchable')
  t.same(related['related.ip'], ['192.0.2.255'])
  const std = standardAttributes(message, 'message', 'flat')
  t.same(std['email.from.address'], ['badguy@evil.zz'])
  t.same(std['email.to.address'], ['clark.kent@pharmtech.zz', 'diana.prince@pharmtech.zz'])
  t.equal(std['email.message_id'], '1111@evil.zz')
  const click = published.clicksPermitted?.[0] ?? {}
  const clickStd = standardAttributes(click, 'click', 'flat')
  t.equal(clickStd['url.full'], 'http://badguy.zz/')
  t.equal(clickStd['client.address'], '192.0.2.1')
  t.equal(clickStd['source.address'], '192.0.2.255')
})

/** Every string value anywhere in a JSON value. */
function stringsIn(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v)
  else if (Array.isArray(v)) for (const x of v) stringsIn(x, out)
  else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) stringsIn(x, out)
  return out
}

const addressLike = fc.oneof(
  fc.emailAddress(),
  fc.tuple(fc.string(), fc.emailAddress()).map(([name, a]) => `"${name}" <${a}>`),
  fc.string({ unit: fc.constantFrom('a', '@', '<', '>', '"', ',', ';', ' ', '.', 'Z', 'é') }),
)
const ipLike = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string())
const urlLike = fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string())
const hexLike = fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{32}$/), fc.stringMatching(/^[0-9a-fA-F]{64}$/), fc.string())
const messageEvent = fc.record(
  {
    sender: addressLike,
    fromAddress: fc.oneof(addressLike, fc.array(addressLike)),
    toAddresses: fc.array(addressLike),
    recipient: fc.array(addressLike),
    headerFrom: addressLike,
    headerReplyTo: addressLike,
    ccAddresses: fc.array(addressLike),
    replyToAddress: fc.array(addressLike),
    senderIP: ipLike,
    messageParts: fc.array(fc.record({ md5: hexLike, sha256: hexLike, filename: fc.string(), contentType: fc.string() })),
    threatsInfoMap: fc.array(fc.record({ threatUrl: urlLike, threat: fc.oneof(urlLike, hexLike) })),
  },
  { requiredKeys: [] },
)

t.test('properties: indicators come from the event, without duplicates; invalid IPs never appear', async (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(messageEvent, (event) => {
        const related = indicatorAttributes(event, 'message')
        const text = stringsIn(event).join('\n').toLowerCase()
        for (const [key, values] of Object.entries(related)) {
          const list = values as string[]
          if (new Set(list).size !== list.length) return false
          if (key === 'related.ip' && list.some((ip) => ipAddress(ip) !== ip)) return false
          // An e-mail address and a hash appear in the event as written (case aside); URLs and hosts are normalized.
          if ((key === 'related.email' || key === 'related.hash') && list.some((v) => !text.includes(v.toLowerCase()))) return false
        }
        return true
      }),
      { numRuns: 300 },
    ),
  )
})

t.test('hostile input: long and adversarial strings take linear time (no backtracking)', async (t) => {
  const long = (unit: string): string => unit.repeat(Math.ceil(1_000_000 / unit.length))
  const shapes = ['a', '<', '"', 'a@', '@a.', 'a.', '-a', '1.', ':', '[', 'http://a', 'aaaa-', '\u00e9\u00e9@']
  for (const unit of shapes) {
    const v = long(unit)
    const started = process.hrtime.bigint()
    const event: JsonObject = { sender: v, fromAddress: [v], senderIP: v, headerFrom: v, messageParts: [{ md5: v, sha256: v }], threatsInfoMap: [{ threat: v, threatUrl: v }] }
    indicatorAttributes(event, 'message')
    standardAttributes(event, 'message', 'flat')
    standardAttributes({ url: v, clickIP: v, recipient: v }, 'click', 'flat')
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    // Not a timing assertion on the machine: a backtracking regex on 1 MB runs for minutes or hours, not seconds.
    t.ok(ms < 60_000, `${JSON.stringify(unit)} × 1 MB mapped (${ms.toFixed(0)} ms)`)
  }
})
