"""What the SMS encoding policy saves over the whole content of a language: every page as sent
(with the footer the bot adds), every system message and the menu, with and without folding.

    python bench/segments.py [--lang es]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import sms  # noqa: E402
from bot.catalog import load_catalog  # noqa: E402


def messages(catalog, lang: str) -> list[str]:
    out = []
    hint = catalog.text("more_hint", lang)
    for tid in catalog.topic_ids:
        pages = catalog.answer(tid, lang).topic.pages
        out += [page + ("\n" + hint if i < len(pages) - 1 else "") for i, page in enumerate(pages)]
    out += [text for key, text in catalog.system[lang].items() if "{" not in text]
    out.append(catalog.menu(lang)[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="es")
    args = parser.parse_args()
    catalog = load_catalog(ROOT / "content")
    texts = messages(catalog, args.lang)
    raw = [sms.segment_info(sms.render(t, "sms", fold=False)) for t in texts]
    folded = [sms.segment_info(sms.render(t, "sms", fold=True)) for t in texts]
    before, after = sum(i.segments for i in raw), sum(i.segments for i in folded)
    ucs2_before = sum(i.encoding == "UCS-2" for i in raw)
    ucs2_after = sum(i.encoding == "UCS-2" for i in folded)
    print(f"{args.lang}: {len(texts)} messages (every page with its footer, system messages, the menu)")
    print(f"  without the policy: {before} segments, {ucs2_before} messages UCS-2")
    print(f"  with the policy:    {after} segments, {ucs2_after} messages UCS-2")
    print(f"  saving: {before - after} segments ({100 * (before - after) / before:.0f}%); "
          f"a person reading every page once gets {after} SMS instead of {before}")


if __name__ == "__main__":
    main()
