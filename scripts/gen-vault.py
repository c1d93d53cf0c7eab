#!/usr/bin/env python3
"""Generate a realistic synthetic Obsidian-style vault, deterministically.

    scripts/gen-vault.py OUT --notes N [--seed S] [--workers W]

Writes N Markdown notes under OUT (which must not exist or be empty): nested folders (some with
spaces), YAML frontmatter (title on some, tags lists, aliases, dates, a key with spaces), an H1
and 2-6 H2/H3 sections of prose drawn from a Zipf-distributed vocabulary of common English
words plus domain terms (so BM25 sees realistic term statistics), [[wikilinks]] to other
generated notes (some with |alias, #heading or as ![[embeds]]), a few unresolved links and
Markdown links, inline #tags and nested #a/b tags, callouts, task lists, tables, code fences,
~5 % notes in CJK (Chinese and Japanese), a few names with emoji or punctuation, a few empty
notes, CRLF line endings and BOMs. Median note about 3 KB. Also writes .obsidian/app.json.

The same --seed and --notes give byte-identical files. Every note is a pure function of (seed,
index): names, folders and headings of link targets are recomputed, never stored, so memory
stays flat and notes are written as they are made, by W worker processes (default: all cores).
1,000,000 notes work: about 4 GB of text (mean 3.9 KiB, median 2.7 KiB a note), some 6 GB on disk
with 4 KiB blocks, in roughly 7 minutes on 2 cores (about 2,300 notes/s, 18 MB per process).
Prints the totals and the throughput in notes/s.
Standard library only.
"""

import argparse
import datetime
import json
import math
import multiprocessing
import os
import random
import sys
import time

# --- vocabulary -------------------------------------------------------------------------------

FUNCTION_WORDS = """the of and to a in is it that for on was with as be this by are at from or have an
not but they which you one we all can there their has been if more when will would who so no
what about up out into than them some could other then its only over also after our how its
these two may first any like new where just most very through back much before such because
each those should well between own both under while few same here around""".split()

COMMON_WORDS = """time year people way day thing man world life hand part child eye woman place work
week case point government company number group problem fact small large next early young
important public bad able good long great little right big high different old last
make know take see come think look want give use find tell ask seem feel try leave call
keep let begin help show hear play run move live believe hold bring happen write provide
sit stand lose pay meet include continue set learn change lead understand watch follow stop
create speak read allow add spend grow open walk win offer remember love consider appear buy
wait serve die send expect build stay fall cut reach kill remain suggest raise pass sell
require report decide pull morning evening idea question answer reason result system program
plan team project meeting draft review note list book paper study research data report budget
office home garden kitchen coffee tea recipe travel train flight hotel city river mountain
weather rain summer winter spring autumn friend family doctor health sleep exercise music
film story history language science school class lesson market price cost value product
customer service design model process method theory practice issue detail level area
community country state power interest money business industry water food energy
experience period order member hour minute moment morning night information example""".split()

DOMAIN_WORDS = """index search query ranking tokenizer latency throughput cache database schema
migration backup restore deploy release version branch commit merge rebase pipeline build
compiler runtime thread process memory allocator benchmark profile trace metric dashboard
alert incident postmortem retrospective roadmap milestone sprint backlog ticket estimate
stakeholder requirement specification prototype feedback interview survey hypothesis
experiment dataset notebook regression classifier embedding vector transformer gradient
markdown frontmatter wikilink backlink vault plugin template snippet shortcut workflow
kubernetes container cluster node replica shard partition queue broker consumer producer
encryption certificate token session cookie header endpoint request response payload
sourdough fermentation espresso grinder ratio compost tomato seedling pruning watering
mortgage invoice receipt taxes pension portfolio dividend inflation savings expense
hiking trail campsite itinerary passport visa luggage ferry museum gallery concert
zettelkasten evergreen fleeting literature permanent synthesis outline highlight annotation
tantivy rust python typescript golang postgres sqlite redis nginx linux kernel syscall
latency-sensitive open-source read-only cross-platform real-time""".split()

ADJECTIVES = """quiet rapid gentle bright hidden simple formal local global remote steady early
late major minor broken stable fresh ancient modern rough smooth silent urgent careful bold
brief clear crisp daily weekly monthly annual private shared central northern southern
eastern western green blue amber golden silver wooden paper digital manual automatic
partial complete open closed lazy eager narrow wide shallow deep light heavy warm cold
hollow solid tidy messy noisy calm sharp dull rare common plain fancy humble proud young
elder first final second third inner outer upper lower hourly nightly frozen molten
lucid vivid subtle obvious curious patient restless hungry thirsty sleepy honest clever
gradual sudden robust fragile linear circular vertical lateral tiny giant polite rustic
urban rural coastal alpine tropical arctic desert forest meadow harbor river canyon
""".split()

NOUNS_A = """harbor migration garden ledger archive compass lantern orchard bridge beacon canvas
cellar chapter circuit cluster compass corridor crystal current delta engine estuary
festival fjord forge fountain galaxy glacier granary gateway hammer haven highway horizon
island journal kernel kettle ladder lagoon library lighthouse meadow mill mirror monument
mosaic network notebook oasis observatory ocean outpost palace parcel pasture pavilion
pendulum pilot planet plateau portal quarry quartz rail ranch reactor reef relay reservoir
ribbon ridge rocket saddle satellite schedule scroll sentinel shelter signal skyline
spindle spiral spring square stable station studio summit tavern telescope temple terrace
theater thicket timber tower trail tunnel valley vault vessel village vineyard voyage
wagon warehouse waterfall wharf windmill workshop zenith atlas badge banner basin bay
""".split()

NOUNS_B = """review plan notes draft log summary checklist retrospective proposal outline
analysis design sketch ideas questions decisions estimate budget timeline roadmap report
recipe itinerary reading list guide manual tutorial experiment results benchmark
postmortem agenda minutes interview feedback survey study research index overview
template snippet cheatsheet glossary backlog inventory schedule routine workout diary
letter essay story poem lecture lesson seminar workshop meetup conference trip visit
migration upgrade rollout launch release incident audit cleanup refactor prototype
baseline forecast pitch contract invoice receipt portfolio strategy vision mission goals
habits principles patterns pitfalls lessons learnings tips tricks hacks methods options
tradeoffs requirements constraints risks metrics signals alerts dashboards queries
""".split()

CJK_A = "会议 项目 学习 数据 检索 索引 文档 设计 计划 笔记 研究 实验 旅行 读书 代码 测试 部署 架构 性能 安全 日本語 検索 東京 京都 料理 音楽 写真 映画 歴史 科学 経済 技術 開発 管理 分析 報告 資料 知識 記録 整理".split()
CJK_B = "总结 方案 草稿 清单 回顾 记录 指南 问题 想法 目标 进度 风险 メモ 手順 課題 予定 結果 概要 まとめ 要件 仕様 評価 改善 方針 比較 調査 検討 準備 確認 振り返り 第一 第二 第三 初稿 定稿 修订 附录 索引 目录 概览".split()
CJK_C = "春 夏 秋 冬 北 南 东 西 上 下 内 外 新 旧 大 小 长 短 高 低 早 晚 快 慢 山 川 海 空 花 木 金 银 月 日 星 雨 雪 风 云 光".split()
CJK_SENTENCE_WORDS = (CJK_A + CJK_B + "的 了 是 在 和 有 我们 这个 一个 可以 需要 因为 所以 但是 如果 已经 还是 で は が を に と も の です ます した".split())

HEADINGS = """Overview|Background|Context|Goals|Non-goals|Next steps|Open questions|Decisions|
Notes|Summary|Details|Ideas|Action items|References|Timeline|Risks|Lessons learned|
What went well|What to improve|Key points|Quotes|Highlights|Follow-ups|Design|Implementation|
Testing|Results|Discussion|Method|Ingredients|Steps|Packing list|Budget|Resources|Links|
Reading notes|Questions|Status|Log|Appendix|Glossary|Alternatives considered|Constraints|
Metrics|Observations|Hypothesis|Setup|Troubleshooting|Examples|FAQ""".replace("\n", "").split("|")

TAGS = """project work personal reading idea meeting todo review draft archive research health
finance travel recipe code writing learning journal book article podcast people area/work
area/home area/health area/finance status/active status/done status/waiting status/someday
type/meeting type/note type/reference type/log topic/search topic/rust topic/python
topic/ml topic/devops topic/design topic/cooking topic/garden client/acme client/globex
client/initech 2023 2024 2025 q1 q2 q3 q4 urgent evergreen fleeting literature moc""".split()

TOP_FOLDERS = ["Projects", "Areas", "Resources", "Archive", "Journal", "Meeting Notes", "Reading List",
               "Work", "Personal", "Research", "Recipes", "Travel", "Code Snippets", "People", "Inbox",
               "Zettelkasten", "Clients", "Learning", "Health & Fitness", "Finance"]
SUB_WORDS = ["2022", "2023", "2024", "2025", "Q1 Planning", "Q3 Review", "Client A", "Client B", "Ideas",
             "Drafts", "Old", "Books", "Papers", "Courses", "Team", "1-1s", "Trips", "Home", "Garden", "Kitchen",
             "Infra", "Search", "Backend", "Frontend", "Design Docs", "Runbooks", "Postmortems", "Notes on Things",
             "Europe", "Asia", "Side Projects", "Weekly", "Someday Maybe", "Templates Old", "Reference"]
DECORATIONS = [("", " (draft)"), ("", " & notes"), ("", ", revisited"), ("", "!"), ("🚀 ", ""), ("", " ✅"),
               ("", " – part 2"), ("", " + ideas"), ("", " @ home"), ("", " v2.1"), ("📚 ", ""), ("", " 100%"),
               ("", "'s notes"), ("", " (copy)")]

CODE_SNIPPETS = {
    "python": ["def {a}_{b}(items):\n    \"\"\"{s}\"\"\"\n    return [x for x in items if x.{a}]\n",
               "import json\n\nwith open(\"{a}.json\") as f:\n    {b} = json.load(f)\nprint(len({b}))\n"],
    "rust": ["fn {a}_{b}(input: &str) -> usize {{\n    // {s}\n    input.split_whitespace().count()\n}}\n",
             "let {a} = {b}.iter().filter(|x| x.is_{a}()).collect::<Vec<_>>();\n"],
    "bash": ["#!/usr/bin/env bash\nset -euo pipefail\nfor f in {a}/*.md; do\n  grep -c {b} \"$f\"\ndone\n",
             "rsync -av --delete ./{a}/ backup:/srv/{b}/\n"],
    "json": ["{{\n  \"{a}\": true,\n  \"{b}\": [1, 2, 3],\n  \"note\": \"{s}\"\n}}\n"],
    "sql": ["SELECT {a}, count(*) FROM {b}\nWHERE created > '2024-01-01'\nGROUP BY {a};\n"],
}

# name parts must be unique within each list, or names would collide
ADJECTIVES, NOUNS_A, NOUNS_B = (list(dict.fromkeys(x)) for x in (ADJECTIVES, NOUNS_A, NOUNS_B))
CJK_A, CJK_B, CJK_C = (list(dict.fromkeys(x)) for x in (CJK_A, CJK_B, CJK_C))

MASK64 = (1 << 64) - 1


def mix(*values):
    """splitmix64 over the values: a fast deterministic hash to an int in [0, 2^64)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & MASK64)) & MASK64
        h = (h + 0x9E3779B97F4A7C15) & MASK64
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & MASK64
        h ^= h >> 31
    return h


class Generator:
    def __init__(self, seed, notes):
        self.seed, self.n = seed, notes
        rng = random.Random(seed)
        content = sorted(set(COMMON_WORDS + DOMAIN_WORDS))
        rng.shuffle(content)
        # rank order: the 12 commonest function words, then the other function words spread among
        # the content words (function words are about half of running English text, not more)
        top, rest = FUNCTION_WORDS[:12], FUNCTION_WORDS[12:]
        merged, fi, ci = [], 0, 0
        while fi < len(rest) or ci < len(content):
            if fi < len(rest) and (ci >= len(content) or rng.random() < 0.3):
                merged.append(rest[fi])
                fi += 1
            else:
                merged.append(content[ci])
                ci += 1
        self.vocab = top + merged
        # Zipf-Mandelbrot frequencies: weight 1/(rank + 2.7)^1.0 ("the" is about 5 % of words)
        total, cum = 0.0, []
        for rank in range(1, len(self.vocab) + 1):
            total += 1.0 / (rank + 2.7)
            cum.append(total)
        self.cum = cum
        self.content = content
        # unique names: a bijection k(i) = (i * P + O) mod M, read as mixed-radix digits
        self.radix = (len(ADJECTIVES), len(NOUNS_A), len(NOUNS_B))
        base = self.radix[0] * self.radix[1] * self.radix[2]
        self.modulus = base * max(1, math.ceil(notes / base))
        self.mult = 1_000_003  # prime, coprime with the modulus (whose prime factors are small)
        while math.gcd(self.mult, self.modulus) != 1:
            self.mult += 2
        self.offset = rng.randrange(self.modulus)
        self.daily_every, self.daily_max = 25, 10_000
        self.folders = self._folders(rng)
        self.hubs = max(1, notes // 100)

    # -- structure, all pure functions of (seed, index) --

    def _folders(self, rng):
        count = max(12, min(4000, self.n // 150))
        folders, seen = [], set()
        for name in TOP_FOLDERS[: max(4, min(len(TOP_FOLDERS), count // 3))]:
            folders.append(name)
            seen.add(name)
        while len(folders) < count:
            parent = rng.choice(folders)
            if parent.count("/") >= 3:
                continue
            child = rng.choice(SUB_WORDS) if rng.random() < 0.6 else \
                f"{rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS_A)}"
            path = f"{parent}/{child}"
            if path not in seen:
                seen.add(path)
                folders.append(path)
        return folders

    def is_daily(self, i):
        return i % self.daily_every == 0 and i // self.daily_every < self.daily_max

    def is_cjk(self, i):
        return mix(self.seed, i, 2) % 100 < 5

    def name(self, i):
        """File name without .md; unique across the vault."""
        if self.is_daily(i):
            day = datetime.date(2000, 1, 1) + datetime.timedelta(days=i // self.daily_every)
            return day.isoformat()
        k = (i * self.mult + self.offset) % self.modulus
        r0, r1, r2 = self.radix
        a, b, c, extra = k % r0, (k // r0) % r1, (k // (r0 * r1)) % r2, k // (r0 * r1 * r2)
        suffix = f" {extra + 1}" if extra else ""
        h = mix(self.seed, i, 1)
        if self.is_cjk(i) and h % 2 == 0:
            n0, n1, n2 = len(CJK_A), len(CJK_B), len(CJK_C)
            title = f"{CJK_A[k % n0]}{CJK_B[(k // n0) % n1]}{CJK_C[(k // (n0 * n1)) % n2]} {k // (n0 * n1 * n2) + 1}"
            return title
        form = (h >> 8) % 10
        core = f"{ADJECTIVES[a]} {NOUNS_A[b]} {NOUNS_B[c]}{suffix}"
        if form == 0:
            title = f"Notes on the {core}"
        elif form == 1:
            title = f"How to plan the {core}"
        else:
            title = core[0].upper() + core[1:]
        if (h >> 16) % 100 < 3:
            pre, post = DECORATIONS[(h >> 24) % len(DECORATIONS)]
            title = f"{pre}{title}{post}"
        return title

    def folder(self, i):
        if self.is_daily(i):
            day = datetime.date(2000, 1, 1) + datetime.timedelta(days=i // self.daily_every)
            return f"Journal/Daily/{day.year}"
        u = (mix(self.seed, i, 3) >> 11) / float(1 << 53)
        return self.folders[int(len(self.folders) * u * u)]  # skewed: early folders are bigger

    def headings(self, i):
        rng = random.Random(mix(self.seed, i, 4))
        count = rng.randint(2, 6)
        out = []
        for _ in range(count):
            if rng.random() < 0.7:
                out.append(rng.choice(HEADINGS))
            else:
                out.append(f"{rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS_A)} {rng.choice(NOUNS_B)}")
        return out

    def link_target(self, rng):
        if rng.random() < 0.25:
            return rng.randrange(self.hubs)  # hub notes collect many backlinks
        return rng.randrange(self.n)

    # -- text --

    def words(self, rng, k):
        w = rng.choices(self.vocab, cum_weights=self.cum, k=k)
        for n in range(1, len(w)):
            if w[n] == w[n - 1]:  # no "the the"
                w[n] = rng.choice(self.content)
        return w

    def sentence(self, rng, k):
        w = self.words(rng, k)
        if rng.random() < 0.15:
            w[rng.randrange(len(w))] = f"**{rng.choice(self.content)}**"
        elif rng.random() < 0.1:
            w[rng.randrange(len(w))] = f"`{rng.choice(self.content)}`"
        if len(w) > 8 and rng.random() < 0.3:
            w[rng.randrange(3, len(w) - 2)] += ","
        s = " ".join(w)
        return s[0].upper() + s[1:] + ("?" if rng.random() < 0.05 else ".")

    def cjk_sentence(self, rng):
        return "".join(rng.choice(CJK_SENTENCE_WORDS) for _ in range(rng.randint(6, 16))) + "。"

    def link(self, rng, i):
        roll = rng.random()
        if roll < 0.03:
            return f"[[{rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS_B)} someday]]"  # unresolved
        j = self.link_target(rng)
        if j == i:
            j = (j + 1) % self.n
        name = self.name(j)
        if roll < 0.15:
            return f"[[{name}|{' '.join(self.words(rng, rng.randint(1, 3)))}]]"
        if roll < 0.25:
            return f"[[{name}#{rng.choice(self.headings(j))}]]"
        if roll < 0.28:
            return f"[[{name}#{rng.choice(self.headings(j))}|see here]]"
        if roll < 0.32:
            path = f"{self.folder(j)}/{name}.md".replace("%", "%25").replace(" ", "%20")
            return f"[{' '.join(self.words(rng, 2))}]({path})"
        return f"[[{name}]]"

    def tag(self, rng):
        return "#" + rng.choice(TAGS)

    def paragraph(self, rng, i, cjk, scale):
        parts = []
        for _ in range(max(1, int(rng.randint(2, 6) * scale))):
            if cjk and rng.random() < 0.6:
                parts.append(self.cjk_sentence(rng))
            else:
                parts.append(self.sentence(rng, rng.randint(6, 18)))
            if rng.random() < 0.12:
                parts.append(self.link(rng, i))
        if rng.random() < 0.15:
            parts.append(self.tag(rng))
        return " ".join(parts)

    def block(self, rng, i, cjk, scale, feats):
        roll = rng.random()
        code, callout, tasks, table = feats
        if (roll < 0.55 or (0.68 <= roll < 0.76 and not tasks) or (0.76 <= roll < 0.83 and not callout)
                or (0.83 <= roll < 0.89 and not code) or (0.89 <= roll < 0.92 and not table)):
            return self.paragraph(rng, i, cjk, scale)
        if roll < 0.68:
            return "\n".join(f"- {self.sentence(rng, rng.randint(3, 10))}"
                             + (f" {self.link(rng, i)}" if rng.random() < 0.2 else "")
                             for _ in range(rng.randint(2, 6)))
        if roll < 0.76:
            return "\n".join(f"- [{'x' if rng.random() < 0.4 else ' '}] {self.sentence(rng, rng.randint(3, 9))[:-1]}"
                             + (f" {self.tag(rng)}" if rng.random() < 0.1 else "")
                             for _ in range(rng.randint(2, 6)))
        if roll < 0.83:
            kind = rng.choice(["note", "tip", "warning", "info", "question", "quote", "todo", "important"])
            fold = rng.choice(["", "", "-", "+"])
            lines = [f"> [!{kind}]{fold} {' '.join(self.words(rng, rng.randint(1, 4))).capitalize()}"]
            lines += [f"> {self.sentence(rng, rng.randint(5, 14))}" for _ in range(rng.randint(1, 3))]
            return "\n".join(lines)
        if roll < 0.89:
            lang = rng.choice(list(CODE_SNIPPETS))
            a, b = rng.choice(self.content), rng.choice(self.content)
            a, b = a.replace("-", "_"), b.replace("-", "_")
            code = rng.choice(CODE_SNIPPETS[lang]).format(a=a, b=b, s=self.sentence(rng, 6))
            return f"```{lang}\n{code}```"
        if roll < 0.92:
            cols = rng.randint(2, 4)
            head = [w.capitalize() for w in self.words(rng, cols)]
            rows = ["| " + " | ".join(head) + " |", "|" + "---|" * cols]
            for _ in range(rng.randint(2, 5)):
                rows.append("| " + " | ".join(" ".join(self.words(rng, rng.randint(1, 3))) for _ in range(cols)) + " |")
            return "\n".join(rows)
        if roll < 0.95:
            return "\n".join(f"{n}. {self.sentence(rng, rng.randint(4, 12))}" for n in range(1, rng.randint(3, 6)))
        if roll < 0.97:
            return f"![[{self.name(self.link_target(rng))}]]"
        return "> " + self.sentence(rng, rng.randint(8, 20))

    def note(self, i):
        """(relative path, text) of note i."""
        rng = random.Random(mix(self.seed, i, 5))
        name, folder, cjk = self.name(i), self.folder(i), self.is_cjk(i)
        path = f"{folder}/{name}.md"
        if rng.random() < 0.005:
            return path, ""  # an empty note, as Obsidian leaves behind
        out = []
        created = datetime.datetime(2019, 1, 1) + datetime.timedelta(minutes=mix(self.seed, i, 6) % (6 * 365 * 1440))
        fm = rng.random()
        if fm < 0.8:
            out.append("---")
            if rng.random() < 0.3:
                out.append(f"title: \"{name.replace(chr(34), '')}\"")
            if rng.random() < 0.75:
                tags = rng.sample(TAGS, rng.randint(1, 4))
                if rng.random() < 0.5:
                    out.append("tags:")
                    out += [f"  - {t}" for t in tags]
                else:
                    out.append(f"tags: [{', '.join(tags)}]")
            if rng.random() < 0.2:
                aliases = [" ".join(self.words(rng, rng.randint(1, 3))).capitalize() for _ in range(rng.randint(1, 2))]
                out.append("aliases:")
                out += [f"  - \"{a}\"" for a in aliases]
            out.append(f"created: {created:%Y-%m-%d}")
            if rng.random() < 0.6:
                modified = created + datetime.timedelta(days=rng.randint(0, 400), minutes=rng.randint(0, 1440))
                out.append(f"modified: {modified:%Y-%m-%dT%H:%M}")
            if rng.random() < 0.3:
                out.append(rng.choice(["project status: active", "project status: done", "reading time: 5 min",
                                       "due date: 2025-06-30", "related people: [Ana, Bo]", "source url: https://example.com/a"]))
            if rng.random() < 0.1:
                out.append(f"rating: {rng.randint(1, 5)}")
            out.append("---")
        if rng.random() < 0.75:
            out.append(f"# {name}")
            out.append("")
        # note length: a log-normal multiplier gives a long tail of big notes
        scale = min(8.0, max(0.25, rng.lognormvariate(0.15, 0.4)))
        # which kinds of blocks this note uses (code in ~20 % of notes, callouts ~30 %, ...)
        feats = (rng.random() < 0.2, rng.random() < 0.3, rng.random() < 0.45, rng.random() < 0.1)
        if rng.random() < 0.7:
            out.append(self.paragraph(rng, i, cjk, scale))
            out.append("")
        for n, heading in enumerate(self.headings(i)):
            level = "##" if n == 0 or rng.random() < 0.65 else "###"
            out.append(f"{level} {heading}")
            out.append("")
            for _ in range(max(1, int(rng.randint(1, 4) * min(scale, 2.5)))):
                out.append(self.block(rng, i, cjk, scale, feats))
                out.append("")
        if rng.random() < 0.3:
            out.append(" ".join(self.tag(rng) for _ in range(rng.randint(1, 3))))
            out.append("")
        text = "\n".join(out)
        if rng.random() < 0.01:
            text = text.replace("\n", "\r\n")
        if rng.random() < 0.003:
            text = "\ufeff" + text
        return path, text


# --- driver -----------------------------------------------------------------------------------

GEN = None


def init_worker(seed, notes):
    global GEN
    GEN = Generator(seed, notes)


def write_range(task):
    out, start, end = task
    count = size = 0
    for i in range(start, end):
        path, text = GEN.note(i)
        data = text.encode("utf-8")
        with open(os.path.join(out, path), "wb") as f:
            f.write(data)
        count += 1
        size += len(data)
    return count, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--notes", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.notes < 1:
        sys.exit("--notes must be at least 1")
    if os.path.exists(args.out) and os.listdir(args.out):
        sys.exit(f"{args.out} exists and is not empty")

    start = time.monotonic()
    gen = Generator(args.seed, args.notes)
    os.makedirs(os.path.join(args.out, ".obsidian"), exist_ok=True)
    with open(os.path.join(args.out, ".obsidian", "app.json"), "w") as f:
        json.dump({"userIgnoreFilters": [], "alwaysUpdateLinks": True}, f, indent=2)
    for folder in gen.folders:
        os.makedirs(os.path.join(args.out, folder), exist_ok=True)
    for day in range(0, min(args.notes, gen.daily_every * gen.daily_max), gen.daily_every):
        os.makedirs(os.path.join(args.out, gen.folder(day)), exist_ok=True)

    chunk = 1000
    tasks = [(args.out, s, min(s + chunk, args.notes)) for s in range(0, args.notes, chunk)]
    done = size = 0
    last_report = start
    if args.workers > 1 and len(tasks) > 1:
        pool = multiprocessing.get_context("fork").Pool(args.workers, init_worker, (args.seed, args.notes))
        results = pool.imap_unordered(write_range, tasks)
    else:
        init_worker(args.seed, args.notes)
        pool, results = None, map(write_range, tasks)
    for count, nbytes in results:
        done += count
        size += nbytes
        now = time.monotonic()
        if now - last_report > 10:
            last_report = now
            print(f"  {done:,} notes, {size / 1e6:,.0f} MB, {done / (now - start):,.0f} notes/s", file=sys.stderr, flush=True)
    if pool:
        pool.close()
        pool.join()
    took = time.monotonic() - start
    print(f"generated {done:,} notes in {len(gen.folders):,} folders under {args.out}: {size:,} bytes "
          f"({size / 1e6:,.1f} MB, mean {size / done / 1024:.1f} KiB/note) in {took:.1f} s, "
          f"{done / took:,.0f} notes/s ({args.workers} workers)")


if __name__ == "__main__":
    main()
