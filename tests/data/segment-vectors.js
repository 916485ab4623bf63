// Writes tests/data/segment-vectors.json: the answers of Twilio's own segment calculator (npm package
// sms-segments-calculator) for texts near segment boundaries. Regenerate with:
//   (in a scratch folder) npm install sms-segments-calculator && node segment-vectors.js > segment-vectors.json
// Vectors from Twilio's segment calculator (npm sms-segments-calculator): random texts near segment
// boundaries, with emoji, ZWJ sequences, flags, skin tones, combining marks, GSM extension chars.
const { SegmentedMessage } = require('sms-segments-calculator');
let seed = 20261201;
function rnd() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; }
function pick(a) { return a[Math.floor(rnd() * a.length)]; }
const pieces = {
  gsm: ['a', 'b', 'Z', ' ', '1', '.', 'ñ', 'é', 'ü', '¿', '¡', '\n', '\r\n'],
  ext: ['€', '[', ']', '{', '}', '^', '~', '|', '\\'],
  ucs: ['á', 'í', 'ó', 'ú', 'ç', 'ā', 'ɨ', '’', '“', '”', 'Ω', 'ä'],
  emoji: ['😀', '🙏', '👍', '❤️', '✅', '🇲🇽', '🇺🇸', '🇬🇹', '👍🏽', '👩‍👩‍👧', '👨‍⚕️', '🏳️‍🌈', '1️⃣', 'é', 'a̱', 'ï'],
};
const out = [];
for (let i = 0; i < 2000; i++) {
  const kind = pick(['gsm', 'gsmext', 'ucs', 'emoji', 'emoji', 'emoji']);
  const target = pick([60, 66, 67, 68, 69, 70, 71, 72, 130, 133, 134, 135, 136, 137, 138, 140, 150, 153, 155, 159, 160, 161,
                       200, 201, 202, 203, 204, 205, 268, 300, 306, 307, 320, 400, 459, 460, 600]);
  let s = '';
  while (s.length < target) {
    const r = rnd();
    if (kind === 'gsm') s += pick(pieces.gsm);
    else if (kind === 'gsmext') s += r < 0.1 ? pick(pieces.ext) : pick(pieces.gsm);
    else if (kind === 'ucs') s += r < 0.1 ? pick(pieces.ucs) : pick(pieces.gsm);
    else s += r < 0.15 ? pick(pieces.emoji) : (r < 0.2 ? pick(pieces.ucs) : pick(pieces.gsm));
  }
  const m = new SegmentedMessage(s);
  out.push({ text: s, encoding: m.getEncodingName(), segments: m.segmentsCount });
}
process.stdout.write(JSON.stringify({ generator: 'sms-segments-calculator ' + require('sms-segments-calculator/package.json').version, vectors: out }));
