"""A realistic, bilingual, messy ingest bundle of any size, with planted ground truth.

``ckn generate --scale small|medium|large --seed N OUT/`` writes the files ``ckn ingest`` reads:
employees, customers (persons and organisations), products, topics, interactions, feedback,
relationships, a HubSpot export and vCards that repeat some customers in other notations, and
Markdown documents, in Chinese and English. The mess is deliberate: full-width digits, phones in five
notations, upper-case e-mails, stray spaces between Chinese characters, traditional characters, a
GB18030-encoded file, a few malformed rows. Referral trees have a heavy-tailed fan-out (preferential
attachment); colleagues work in communities around topics and accounts. ``truth.json`` names what was
planted: the documented expert and the tacit holder of each planted topic, a topic only one person
knows, the referral forest, and what only the texts say (``discovered``): the topics of long articles
without any CRM metadata and their author, people and organisations they name, and referrals customers
state in the first person in their feedback. Files are written row by row, so the large scale streams.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ckn.graph.errors import InvalidInput
from ckn.ingest.records import COLUMNS


@dataclass(frozen=True)
class Scale:
    """How much to generate."""

    customers: int
    employees: int
    products: int
    interactions: int
    feedback: int
    documents: int


SCALES = {
    "tiny": Scale(customers=200, employees=20, products=6, interactions=1_000, feedback=150, documents=10),
    "small": Scale(
        customers=1_000, employees=60, products=12, interactions=10_000, feedback=1_000, documents=60
    ),
    "medium": Scale(
        customers=100_000,
        employees=800,
        products=60,
        interactions=1_000_000,
        feedback=50_000,
        documents=1_000,
    ),
    "large": Scale(
        customers=1_000_000,
        employees=5_000,
        products=200,
        interactions=3_000_000,
        feedback=300_000,
        documents=5_000,
    ),
}

TOPICS = [
    ("calibration", "校准", ["标定", "calibrate"]),
    ("drift", "读数漂移", ["漂移", "reading drift"]),
    ("export", "数据导出", ["导出", "CSV export"]),
    ("installation", "安装", ["装机", "install"]),
    ("firmware", "固件升级", ["固件", "firmware update"]),
    ("licensing", "许可证", ["授权", "licence"]),
    ("invoicing", "发票", ["开票", "invoice"]),
    ("training", "培训", ["操作培训", "onboarding"]),
    ("repair", "维修", ["返修", "RMA"]),
    ("spare-parts", "备件", ["配件", "spare part"]),
    ("api", "接口集成", ["API", "integration"]),
    ("performance", "性能优化", ["性能", "slow"]),
    ("safety", "安全规范", ["安规", "safety"]),
    ("warranty", "保修", ["质保", "warranty"]),
    ("networking", "网络配置", ["联网", "network setup"]),
    ("reporting", "报表", ["报告模板", "reporting"]),
]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉宇浩凯晨阳鑫雪琳倩颖婷"
FIRST = [
    "Anna",
    "David",
    "Laura",
    "Tom",
    "Maria",
    "Lukas",
    "Sophie",
    "James",
    "Elena",
    "Marco",
    "Julia",
    "Peter",
    "Nina",
    "Felix",
    "Clara",
    "Jonas",
    "Emma",
    "Noah",
    "Lea",
    "Paul",
    "Sara",
    "Ben",
    "Mia",
    "Leon",
]
LAST = [
    "Schmidt",
    "Chen",
    "Rossi",
    "Becker",
    "Lopez",
    "Müller",
    "Dubois",
    "Smith",
    "Novak",
    "Ricci",
    "Weber",
    "Wagner",
    "Fischer",
    "Martin",
    "Garcia",
    "Kowalski",
    "Jansen",
    "Larsen",
    "Costa",
    "Moreau",
    "Keller",
]
CITIES = [
    "上海",
    "苏州",
    "杭州",
    "南京",
    "北京",
    "深圳",
    "München",
    "Berlin",
    "Milano",
    "Lyon",
    "Wien",
    "Zürich",
]
ORG_WORDS = ["精密仪器", "生物科技", "新材料", "检测技术", "环境科技", "医疗器械", "电子", "化工"]
ORG_EN = ["Labs", "Analytics", "Instruments", "Diagnostics", "Materials", "BioTech", "Systems"]
DEPARTMENTS = ["销售部", "客户服务部", "市场部", "研发部"]
SEGMENTS = ["Key Account", "Enterprise", "SMB", "Public Sector", "Distributor"]
TRADITIONAL = str.maketrans("校准读数导出发票维修报表网络关于问题", "校準讀數導出發票維修報表網絡關於問題")


def _phone_variants(digits: str, rng: random.Random) -> str:
    """One mobile number written the way people write it."""
    forms = [
        f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}",
        digits,
        "".join(chr(ord(c) + 0xFEE0) for c in digits),  # full-width digits
        f"0086 {digits[:3]} {digits[3:7]} {digits[7:]}",
        f"({digits[:3]}) {digits[3:7]} {digits[7:]}",
    ]
    return rng.choice(forms)


def _spaced(text: str, rng: random.Random) -> str:
    """OCR-like stray spaces between Chinese characters, and now and then traditional characters."""
    if rng.random() < 0.15:
        text = " ".join(text) if len(text) < 12 else text
    if rng.random() < 0.1:
        text = text.translate(TRADITIONAL)
    return text


class _Writer:
    def __init__(self, folder: Path, name: str, header: list[str], encoding: str = "utf-8") -> None:
        self.handle: IO[str] = (folder / name).open("w", encoding=encoding, newline="")
        self.csv = csv.writer(self.handle)
        self.csv.writerow(header)
        self.rows = 0

    def row(self, *cells: Any) -> None:
        self.csv.writerow(["" if c is None else c for c in cells])
        self.rows += 1

    def close(self) -> None:
        self.handle.close()


@dataclass
class _People:
    ids: list[str]
    names: list[str]
    department: list[str]
    current: list[bool] = field(default_factory=list)
    """Still here, and not opted out of expertise inference: who can be an expert."""


@dataclass
class _World:
    """Everything generated so far, for the generators of the files that refer to it."""

    out: Path
    size: Scale
    employees: _People
    customers: _Customers
    products: list[tuple[str, str]]
    topics: list[tuple[str, str, list[str]]]
    truth: dict[str, Any]
    rng: random.Random


def generate(out: Path, scale: str = "small", seed: int = 7) -> dict[str, Any]:
    """Write a bundle into ``out`` (created) and return the planted truth (also in ``truth.json``)."""
    if scale not in SCALES:
        raise InvalidInput(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    size = SCALES[scale]
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "documents").mkdir(exist_ok=True)

    topics = TOPICS[: max(6, min(len(TOPICS), size.products + 4))]
    with (out / "topics.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["topic_id", "name", "aliases", "parent_id"])
        for tid, zh, aliases in topics:
            writer.writerow([tid, f"{zh} {tid.replace('-', ' ').title()}", "|".join([zh, tid, *aliases]), ""])

    products = [
        (f"P{i:03d}", f"X{i + 1}00 {'光谱仪' if i % 2 == 0 else '分析仪'}") for i in range(size.products)
    ]
    with (out / "products.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["product_id", "name", "category", "aliases"])
        for pid, name in products:
            code = name.split()[0]
            writer.writerow(
                [pid, name, "instrument", f"{code}|{code} spectrometer|{code.replace('X', 'X-')}"]
            )

    employees = _employees(out, size, rng)
    truth = _plant(employees, topics, rng)
    customers = _customers(out, size, employees, rng, truth)
    _duplicates(out, customers, rng)
    world = _World(out, size, employees, customers, products, topics, truth, rng)
    _interactions(world)
    _feedback(world)
    _documents(world)
    truth["discovered"] = _articles(world, random.Random(seed * 7919 + 1))
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return truth


def _employees(out: Path, size: Scale, rng: random.Random) -> _People:
    writer = _Writer(
        out,
        "employees.csv",
        list(COLUMNS["employees"]),
    )
    people = _People([], [], [])
    for i in range(size.employees):
        chinese = rng.random() < 0.7
        name = (
            rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.4 else "")
            if chinese
            else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        )
        eid = f"E{i:05d}"
        dept = DEPARTMENTS[i % len(DEPARTMENTS)] if i >= len(DEPARTMENTS) else DEPARTMENTS[i]
        manager = "" if i < len(DEPARTMENTS) else people.ids[DEPARTMENTS.index(dept)]
        left = f"2025-{rng.randint(1, 12):02d}-15" if rng.random() < 0.05 else ""
        writer.row(
            eid,
            _spaced(name, rng) if chinese else name,
            f"emp{i}@example.com",
            dept,
            "工程师",
            manager,
            rng.choice(CITIES),
            f"20{rng.randint(10, 24)}-{rng.randint(1, 12):02d}-01",
            left,
            "是" if i % 50 == 49 else "",  # a few people opted out of expertise inference
        )
        people.ids.append(eid)
        people.names.append(name)
        people.department.append(dept)
        people.current.append(not left and i % 50 != 49)
    writer.close()
    return people


def _plant(
    employees: _People, topics: list[tuple[str, str, list[str]]], rng: random.Random
) -> dict[str, Any]:
    """Choose who is the documented expert and the tacit holder of each planted topic."""
    service = [e for e, d in zip(employees.ids, employees.department, strict=True) if d == "客户服务部"]
    pool = service if len(service) >= 7 else employees.ids  # tiny bundles have few service people
    chosen = rng.sample(pool, k=7)
    planted = {}
    for n, (tid, _, _) in enumerate(topics[:3]):
        planted[tid] = {"documented_expert": chosen[2 * n], "tacit_holder": chosen[2 * n + 1]}
    single = topics[3][0]
    return {
        "topics": planted,
        "single_holder_topic": {"topic": single, "holder": chosen[6]},
        "referral_roots": [],
        "duplicates": [],
    }


@dataclass
class _Customers:
    ids: list[str]
    names: list[str]
    emails: list[str]
    phones: list[str]
    persons: list[int]


class _Weights:
    """Integer weights to draw an index from, as ``rng.choices(range(count), weights)`` would.

    A Fenwick tree: adding to a weight and drawing cost log(capacity) instead of a pass over all
    weights, which made the large scale quadratic. The draw takes one ``rng.random()`` and compares
    exact integer sums with it, so it picks what ``choices`` picked: the same seed, the same bundle.
    """

    def __init__(self, capacity: int) -> None:
        self.count = 0
        self.total = 0
        self._tree = [0] * (capacity + 1)
        self._top = 1 << capacity.bit_length()

    def append(self, weight: int) -> None:
        """A new last index with this weight."""
        self.add(self.count, weight)
        self.count += 1

    def add(self, index: int, weight: int) -> None:
        self.total += weight
        i = index + 1
        while i < len(self._tree):
            self._tree[i] += weight
            i += i & -i

    def pick(self, rng: random.Random) -> int:
        """The first index whose running sum of weights exceeds ``rng.random() * total``."""
        x = rng.random() * float(self.total)
        pos, below, step = 0, 0, self._top
        while step:
            nxt = pos + step
            if nxt < len(self._tree) and below + self._tree[nxt] <= x:
                pos, below = nxt, below + self._tree[nxt]
            step >>= 1
        return min(pos, self.count - 1)


def _customers(
    out: Path, size: Scale, employees: _People, rng: random.Random, truth: dict[str, Any]
) -> _Customers:
    writer = _Writer(
        out,
        "customers.csv",
        list(COLUMNS["customers"]),
    )
    sales = [e for e, d in zip(employees.ids, employees.department, strict=True) if d == "销售部"]
    found = _Customers([], [], [], [], [])
    orgs: list[str] = []
    weights = _Weights(size.customers)  # preferential attachment: who referred before refers again
    for i in range(size.customers):
        cid = f"C{i:07d}"
        is_org = i % 5 == 0
        if is_org:
            name = (
                f"{rng.choice(CITIES[:6])}{rng.choice(ORG_WORDS)}有限公司"
                if rng.random() < 0.6
                else f"{rng.choice(LAST)} {rng.choice(ORG_EN)} GmbH"
            )
            name = f"{name} {i}"
            email, digits, org = (
                f"info{i}@org{i}.example",
                f"1{rng.randint(3, 9)}{rng.randint(0, 10**9 - 1):09d}",
                "",
            )
            orgs.append(cid)
        else:
            chinese = rng.random() < 0.6
            name = (
                rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
                if chinese
                else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            )
            email = f"kunde{i}@{rng.choice(['qq', '163', 'gmail', 'web'])}.example"
            digits = f"1{rng.randint(3, 9)}{i:09d}"
            org = rng.choice(orgs) if orgs and rng.random() < 0.7 else ""
            found.persons.append(i)
        referrer = ""
        if found.ids and rng.random() < 0.35:
            pick = (
                weights.pick(rng) if weights.count and rng.random() < 0.8 else rng.randrange(len(found.ids))
            )
            referrer = found.ids[pick]
            weights.add(pick, 3)
        elif len(truth["referral_roots"]) < 20:
            truth["referral_roots"].append(cid)
        shown_email = email.upper() if rng.random() < 0.1 else email
        if rng.random() < 0.003:
            shown_email = "not-an-email"  # a malformed row for the quarantine
        writer.row(
            cid,
            name,
            "organization" if is_org else "person",
            org,
            shown_email,
            _phone_variants(digits, rng),
            rng.choice(CITIES),
            rng.choice(SEGMENTS),
            rng.choice(sales),
            referrer,
            f"20{rng.randint(15, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            f"{rng.randint(1, 500) * 1000:,}",
        )
        found.ids.append(cid)
        found.names.append(name)
        found.emails.append(email)
        found.phones.append(digits)
        weights.append(1)
    writer.close()
    return found


def _duplicates(out: Path, customers: _Customers, rng: random.Random) -> None:
    """The same people again, as a HubSpot export and as vCards, written differently."""
    hub = _Writer(
        out,
        "hubspot_contacts.csv",
        ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "City", "Create Date"],
    )
    with (out / "contacts.vcf").open("w", encoding="utf-8", newline="") as vcf:
        for n, i in enumerate(customers.persons):
            if n % 10 == 3:
                name = customers.names[i]
                first, last = (name[1:], name[0]) if not name.isascii() else tuple(name.split(" ", 1))
                hub.row(
                    9_000_000 + i,
                    first,
                    last,
                    customers.emails[i].upper(),
                    _phone_variants(customers.phones[i], rng),
                    rng.choice(CITIES),
                    "2026-01-05",
                )
            if n % 20 == 7:
                d = customers.phones[i]
                vcf.write(
                    f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{customers.names[i]}\r\n"
                    f"EMAIL;type=INTERNET:{customers.emails[i]}\r\nTEL;type=CELL:{d[:3]} {d[3:7]} {d[7:]}\r\n"
                    f"UID:urn:uuid:vc-{i}\r\nEND:VCARD\r\n"
                )
    hub.close()


def _mention(topics: list[tuple[str, str, list[str]]], tid: str, rng: random.Random, english: bool) -> str:
    topic = next(t for t in topics if t[0] == tid)
    return (
        rng.choice([topic[0].replace("-", " "), *topic[2]])
        if english
        else rng.choice([topic[1], topic[2][0]])
    )


def _interactions(world: _World) -> None:
    out, size, employees, customers = world.out, world.size, world.employees, world.customers
    products, topics, truth, rng = world.products, world.topics, world.truth, world.rng
    writer = _Writer(
        out,
        "interactions.csv",
        list(COLUMNS["interactions"]),
    )
    channels = ["call", "email", "meeting", "chat", "ticket", "visit", "purchase", "电话", "工单"]
    planted = [(tid, roles["tacit_holder"]) for tid, roles in truth["topics"].items()]
    single = truth["single_holder_topic"]
    # communities: each colleague works a home slice of the topics, never the one planted single-holder topic
    open_topics = [n for n, t in enumerate(topics) if t[0] != single["topic"]]
    home = {e: rng.sample(open_topics, k=min(3, len(open_topics))) for e in employees.ids}
    for i in range(size.interactions):
        if i % 50 == 0 and planted:  # the tacit holders answer tickets on their topic, and write nothing
            tid, employee = planted[(i // 50) % len(planted)]
        elif i % 97 == 0:
            tid, employee = single["topic"], single["holder"]
        else:
            employee = rng.choice(employees.ids)
            tid = topics[rng.choice(home[employee])][0]
        english = rng.random() < 0.4
        customer = rng.randrange(len(customers.ids))
        product = rng.choice(products)
        channel = "ticket" if i % 50 == 0 or i % 97 == 0 else rng.choice(channels)
        about = _mention(topics, tid, rng, english)
        subject = (
            f"{product[1].split()[0]} {about} question"
            if english
            else _spaced(f"{product[1].split()[0]}{about}问题", rng)
        )
        notes = (
            f"Customer asked about {about}; resolved on the call."
            if english
            else f"客户咨询{about}，已远程处理，回访电话{_phone_variants(customers.phones[customer], rng)}"
        )
        writer.row(
            f"I{i:08d}",
            f"20{rng.randint(22, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            channel,
            rng.choice(["inbound", "outbound"]),
            employee,
            customers.ids[customer],
            product[0],
            subject,
            notes,
            f"{rng.randint(1, 90)},000" if channel == "purchase" else "",
        )
    writer.close()


def _feedback(world: _World) -> None:
    out, size, employees, customers = world.out, world.size, world.employees, world.customers
    products, topics, truth, rng = world.products, world.topics, world.truth, world.rng
    # GB18030, as exported by an older Chinese service desk
    writer = _Writer(
        out,
        "feedback.csv",
        list(COLUMNS["feedback"]),
        encoding="gb18030",
    )
    kinds = ["complaint", "question", "suggestion", "praise", "review", "投诉", "咨询"]
    experts = [(tid, r["tacit_holder"], r["documented_expert"]) for tid, r in truth["topics"].items()]
    for i in range(size.feedback):
        tid, tacit, documented = (
            experts[(i // 3) % len(experts)]
            if experts and i % 3 == 0
            else (
                rng.choice([t for t in topics if t[0] != truth["single_holder_topic"]["topic"]])[0],
                rng.choice(employees.ids),
                rng.choice(employees.ids),
            )
        )
        # planted topics: the tacit holder answers half, the documented expert the rest; some stay open
        planted_handler = tacit if i % 2 == 0 else documented
        handler = planted_handler if i % 3 == 0 else (tacit if rng.random() < 0.8 else "")
        about = _mention(topics, tid, rng, english=False)
        rating = rng.randint(1, 5) if i % 211 != 5 else 9  # now and then a rating out of range
        writer.row(
            f"F{i:07d}",
            f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}",
            rng.choice(customers.ids),
            rng.choice(products)[0],
            rating,
            rng.choice(kinds),
            _spaced(f"关于{about}的问题，希望尽快处理", rng),
            handler,
            "已处理" if handler else "",
        )
    writer.close()


def _documents(world: _World) -> None:
    out, size, employees = world.out, world.size, world.employees
    products, topics, truth, rng = world.products, world.topics, world.truth, world.rng
    documented = [(tid, r["documented_expert"]) for tid, r in truth["topics"].items()]
    planted_tacit = {r["tacit_holder"] for r in truth["topics"].values()} | {
        truth["single_holder_topic"]["holder"]
    }
    writers = [e for e in employees.ids if e not in planted_tacit]
    single = truth["single_holder_topic"]["topic"]
    for i in range(size.documents):
        if documented and i % 4 == 0:
            tid, author = documented[(i // 4) % len(documented)]
        else:
            tid = rng.choice([t for t in topics if t[0] != single])[0]
            author = rng.choice(writers)
        product = rng.choice(products)
        english = i % 2 == 0
        about = _mention(topics, tid, rng, english)
        body = (
            f"# {product[1]}: {about}\n\nHow to handle {about} on the {product[1].split()[0]}. "
            "Check the settings, repeat the procedure, then contact service.\n"
            if english
            else f"# {product[1]} {about}指南\n\n{product[1].split()[0]}的{about}步骤："
            "先检查设置，再重复操作，最后联系客服。\n"
        )
        (out / "documents" / f"doc-{i:05d}.md").write_text(
            f"---\ntitle: {product[1]} {about}\nauthors: [{author}]\nproducts: [{product[0]}]\n"
            f"topics: [{tid}]\nkind: {rng.choice(['faq', 'manual', 'case', 'best_practice'])}\n"
            f"created_at: 2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}\n---\n{body}",
            encoding="utf-8",
        )


ARTICLE_TOPICS = {
    "zh": ("远程诊断", "周经理", "宏远精工集团"),
    "en": ("preventive maintenance", "Dr. Maria Ortiz", "Kestrel Analytics Ltd"),
}
"""Per language: the topic long articles are about (no master data names it), a person and an
organisation they name."""
_ZH_FILLER = [
    "{topic}的第一步是确认设备的运行记录。",
    "工程师在现场发现，{topic}可以明显缩短停机时间。",
    "很多客户希望把{topic}纳入年度服务合同。",
    "我们整理了{topic}的检查清单，并在培训中使用。",
    "这个问题的研究方法并不复杂，但需要坚持。",
    "每次上门之前，先通过{topic}判断需要携带的备件。",
    "{name}认为，{topic}最大的价值在于提前发现隐患。",
    "{org}在试点中采用了{topic}，反馈良好。",
    "售后团队每月复盘一次典型案例。",
    "设备的温度、湿度和振动数据都会自动上传。",
]
_EN_FILLER = [
    "The first step of {topic} is to read the instrument's run log.",
    "Field engineers found that {topic} shortens downtime noticeably.",
    "Many customers want {topic} in their yearly service contract.",
    "This document describes the method and the problem it solves.",
    "We keep a checklist for {topic} and use it in training.",
    "Before each site visit, {topic} tells us which spare parts to bring.",
    "{name} said that {topic} pays off when it finds a fault early.",
    "{org} piloted {topic} last year and reported good results.",
    "The service team reviews typical cases every month.",
    "Temperature, humidity and vibration data are uploaded automatically.",
]


def _articles(world: _World, rng: random.Random) -> dict[str, Any]:
    """Long articles with no CRM metadata but their author's name, and first-person referral feedback.

    Its own random generator: the rest of the bundle is the same with or without them.
    """
    out, employees, customers = world.out, world.employees, world.customers
    count = max(2, world.size.documents // 20)
    topics: dict[str, Any] = {}
    tacit = {r["tacit_holder"] for r in world.truth["topics"].values()} | {
        world.truth["single_holder_topic"]["holder"]
    }  # they write nothing
    authors = [
        i
        for i, name in enumerate(employees.names)
        if employees.current[i]
        and employees.ids[i] not in tacit
        and employees.names.count(name) == 1  # named, so one name for one person
    ]
    for lang, (topic, name, org) in ARTICLE_TOPICS.items():
        author = rng.choice(authors)
        filler = _ZH_FILLER if lang == "zh" else _EN_FILLER
        joiner = "" if lang == "zh" else " "
        for n in range(count):
            sentences = [rng.choice(filler).format(topic=topic, name=name, org=org) for _ in range(60)]
            paragraphs = [joiner.join(sentences[i : i + 6]) for i in range(0, len(sentences), 6)]
            (out / "documents" / f"article-{lang}-{n:03d}.md").write_text(
                f"---\ntitle: {topic} ({n + 1})\nauthor: {employees.names[author]}\n---\n"
                + "\n\n".join(paragraphs)
                + "\n",
                encoding="utf-8",
            )
        topics[topic] = {"author": employees.ids[author], "documents": count}
    organisations = [i for i in range(len(customers.ids)) if i not in set(customers.persons)]
    named = [i for i in organisations if customers.names.count(customers.names[i]) == 1]
    stated = []
    with (out / "feedback.csv").open("a", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle)
        for n in range(min(4, len(named) // 2)):
            referrer, referred = named[2 * n], named[2 * n + 1]
            text = (
                f"我们是经{customers.names[referrer]}介绍才找到贵司的，服务很好。"
                if n % 2 == 0
                else f"Great support. We were referred by {customers.names[referrer]} last year."
            )
            writer.writerow(
                [f"FS{n:04d}", "2026-10-15", customers.ids[referred], "", 5, "praise", text, "", ""]
            )
            stated.append([f"customer:{customers.ids[referrer]}", f"customer:{customers.ids[referred]}"])
    return {
        "topics": topics,
        "names": [v[1] for v in ARTICLE_TOPICS.values()] + [v[2] for v in ARTICLE_TOPICS.values()],
        "stated_referrals": stated,
    }


def rows(path: Path) -> Iterator[list[str]]:
    """The rows of a generated CSV (for tests and benchmarks)."""
    with path.open(encoding="gb18030" if path.name == "feedback.csv" else "utf-8", newline="") as handle:
        yield from csv.reader(handle)
