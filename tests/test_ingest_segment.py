"""Newspaper-page segmentation: the real seed page and a synthetic page of another paper."""

from pathlib import Path

import pytest

from rag.ingest.segment import segment_page

SEED = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "seed" / "000_de833d265e01a158.txt"
BANNER = "锚定现代化 改革再深化 市直重点单位主要负责人访谈"


@pytest.fixture(scope="module")
def seed_segments():
    if not SEED.exists():
        pytest.skip(f"seed page not found at {SEED}")
    return segment_page(SEED.read_text(encoding="utf-8"))


def find(segments, marker):
    """The one segment whose title (or else body) contains `marker`."""
    hits = [s for s in segments if marker in s.title] or [s for s in segments if marker in s.body]
    assert len(hits) == 1, (marker, [s.title for s in segments])
    return hits[0]


def test_seed_page_splits_into_its_seven_stories(seed_segments):
    titles = [s.title for s in seed_segments]
    assert len(seed_segments) == 7, titles
    union = find(seed_segments, "集体合同")
    coal = find(seed_segments, "柳林")
    care = find(seed_segments, "岔沟村")
    cppcc = find(seed_segments, "主席会议")
    show = find(seed_segments, "迎新年文艺演出")
    hospital = find(seed_segments, "兴楼医院")
    civil = find(seed_segments, "杨丽")
    assert len({id(s) for s in (union, coal, care, cppcc, show, hospital, civil)}) == 7
    assert union.title == "我市一案例入选全国工会重点工作创新案例"
    assert coal.title == "煤矿智能化建设蹚出能源革命“柳林路径”"
    assert cppcc.title == "市政协召开四届三十四次主席会议"
    assert show.title == "喜迎春光 续写华章"
    assert civil.title == "倾心民生福祉 筑牢幸福根基"


def test_seed_headline_blocks_keep_kickers_and_subtitles(seed_segments):
    coal = find(seed_segments, "柳林路径")
    assert "向“新”求“质”在吕梁" in coal.subtitle and "减人 提效 增安" in coal.subtitle
    assert find(seed_segments, "主席会议").subtitle == "乔晓峰主持"
    assert "迎新年文艺演出侧记" in find(seed_segments, "喜迎春光").subtitle
    assert find(seed_segments, "倾心民生福祉").subtitle == "访市民政局党组书记、局长杨丽"


def test_seed_headline_printed_after_its_body_is_attached(seed_segments):
    care = find(seed_segments, "日间照料中心点亮老年人新生活")
    assert care.title == "中阳县岔沟村 日间照料中心点亮老年人新生活"
    assert care.body.startswith("午饭时间")
    assert care.reporters == ("王涛",)
    assert "日间照料中心点亮" not in find(seed_segments, "主席会议").body


def test_seed_key_facts_and_rejoined_sentences(seed_segments):
    coal = find(seed_segments, "柳林路径")
    assert "61.7亿吨" in coal.body
    assert "54个智能化采掘工作面,4座煤矿实现5G入井。" in coal.body
    assert "全县煤矿主要系统实现了" in coal.body
    union = find(seed_segments, "集体合同")
    assert "了解货运行业内部真实纠纷案例" in union.body
    cppcc = find(seed_segments, "主席会议")
    assert "乔晓峰对市政协机关一年来的工作予以肯定" in cppcc.body
    assert "“十四五”规划的收官之年" in cppcc.body
    civil = find(seed_segments, "杨丽")
    assert "把“大力推进养老服务体系”列为20件大事要事之一" in civil.body
    assert "3.04亿元" in civil.body
    assert "普惠性、基础性、兜底性" in civil.body
    assert "岔沟村日间照料中心于2017年正式成立" in find(seed_segments, "岔沟村").body
    assert "328名一线环卫工人" in find(seed_segments, "兴楼医院").body


def test_seed_banner_is_metadata_never_body(seed_segments):
    for s in seed_segments:
        assert "锚定现代化" not in s.body
        assert "记者直击" not in s.body
    assert find(seed_segments, "杨丽").section == BANNER
    assert find(seed_segments, "岔沟村").section == "记者直击 吕梁20件大事要事"


def test_seed_captions_are_lifted_out_of_bodies(seed_segments):
    coal = find(seed_segments, "柳林路径")
    assert coal.captions == ("图为柳林煤矿调度室正运用智能综合管理平台监控井下采掘工作面情况。（付永文 高茜 摄）",)
    for s in seed_segments:
        assert "图为" not in s.body
        assert " 摄" not in s.body
    hospital = find(seed_segments, "兴楼医院")
    assert hospital.title == "楼楼县兴楼医院为328名一线环卫工人开展免费体检送健康活动"
    assert hospital.body.startswith("12月27日,楼楼县兴楼医院")
    assert hospital.captions and "臧慧媛 陈贞 摄" in hospital.captions[0]
    show = find(seed_segments, "喜迎春光")
    assert "兴楼医院" not in show.body and not show.captions


def test_seed_reporters(seed_segments):
    assert find(seed_segments, "集体合同").reporters == ("白凯冰",)
    assert find(seed_segments, "柳林路径").reporters == ("付永文", "高茜")
    assert find(seed_segments, "主席会议").reporters == ("康桂芳",)
    assert find(seed_segments, "喜迎春光").reporters == ("韩笑",)
    assert find(seed_segments, "杨丽").reporters == ("罗丽",)
    everyone = {r for s in seed_segments for r in s.reporters}
    assert {"白凯冰", "付永文", "高茜", "王涛", "康桂芳", "韩笑", "罗丽"} <= everyone
    # markers of the byline are not left in the body
    assert not any(s.body.startswith(("本报讯", "□")) for s in seed_segments)


# A page of another (invented) paper: agency datelines, full-width parentheses, a page
# banner and date line, a kicker/headline/——subtitle block, a caption with a credit
# inside a broken sentence, a column banner printed twice, a headline printed after
# its story, and photo news standing alone at the bottom.
SYNTHETIC_PAGE = """要闻·综合

2024年3月6日 星期三 第2版

数字赋能 乡村振兴

云溪市“数字村庄”覆盖全部行政村

——全市农村电商交易额同比增长三成

新华社杭州3月5日电（记者 周文涛 林晓雯）记者5日从云溪市农业农村局获悉，截至2月底，该市“数字村庄”平台已覆盖全部412个行政村，村民足不出户即可办理社保缴费、医保报销等36项常用事项。

云溪市农业农村局局长陈立民介绍，去年全市农村电商交易额达到58.6亿元，同比增长31%，带动



图为云溪市白沙村村民在直播间推介本地茶叶。

新华社记者 黄立新 摄

1.2万名农民就近就业。今年该市计划再培育乡村直播带货人才3000名。

“以前卖茶要等客商上门，现在一部手机就能卖到全国。”白沙村茶农吴美华说。

奋进新征程 两会特别报道

本报讯（记者 韩冬梅）3月5日，云溪市召开重点项目集中开工大会，总投资186亿元的47个项目集中开工，涵盖先进制造、城市更新、交通水利等领域。

市发展和改革委员会有关负责人表示，这批项目全部建成后，预计每年可新增产值220亿元，新增就业岗位1.5万个。其中，投资32亿元的云溪港二期码头工程将新建5个万吨级泊位，建成后港口年吞吐能力

奋进新征程 两会特别报道

将提升至4500万吨。

下一步，云溪市将建立项目“周调度、月通报”机制，确保项目早建成、早见效。

□ 本报记者 潘玉洁

清晨六点，云溪湿地公园的观鸟台上已经聚集了二十多位摄影爱好者。今年入冬以来，共有43种、超过1.6万只候鸟在湿地越冬，其中包括国家一级保护动物黑鹳。

湿地管理中心负责人告诉记者，近三年来公园退塘还湿1200亩，水质稳定在Ⅲ类，为候鸟提供了充足的食物和安全的栖息环境。

候鸟翩翩 湿地公园迎来越冬高峰

3月4日，云溪市第二实验小学的学生们在校园里种下200棵樱花树，迎接植树节的到来。

（云溪日报记者 邱明 摄）
"""


def test_synthetic_page_of_another_paper():
    segments = segment_page(SYNTHETIC_PAGE)
    assert len(segments) == 4, [s.title for s in segments]
    digital, projects, birds, trees = segments

    assert digital.title == "云溪市“数字村庄”覆盖全部行政村"
    assert digital.subtitle == "数字赋能 乡村振兴\n全市农村电商交易额同比增长三成"
    assert digital.reporters == ("周文涛", "林晓雯")
    assert digital.body.startswith("新华社杭州3月5日电 记者5日")  # the dateline's place stays
    assert "带动1.2万名农民就近就业" in digital.body
    assert digital.captions == ("图为云溪市白沙村村民在直播间推介本地茶叶。（新华社记者 黄立新 摄）",)
    assert digital.section == "要闻·综合" and digital.published == "2024-03-06"

    assert projects.reporters == ("韩冬梅",)
    assert projects.title == "云溪市召开重点项目集中开工大会"  # derived: no headline was printed
    assert "港口年吞吐能力将提升至4500万吨" in projects.body
    assert projects.section == "奋进新征程 两会特别报道"

    assert birds.title == "候鸟翩翩 湿地公园迎来越冬高峰"
    assert birds.reporters == ("潘玉洁",) and birds.body.startswith("清晨六点")

    assert trees.title == "云溪市第二实验小学的学生们在校园里种下200棵樱花树"
    assert trees.reporters == ("邱明",)
    assert "樱花树" in trees.captions[0] and "摄" in trees.captions[0]

    for s in segments:
        assert "两会特别报道" not in s.body and "要闻·综合" not in s.body
        assert "图为" not in s.body and "摄" not in s.body.replace("摄影", "")
        assert "2024年3月6日" not in s.body


def test_single_article_text_is_one_segment():
    text = "青川地铁2号线完成85%工程量\n\n2025-06-18\n\n本报讯（记者 张明）截至6月中旬，青川市地铁2号线土建工程已完成85%。\n\n市轨道交通集团表示，2号线计划于今年12月底开通试运营。"
    (seg,) = segment_page(text)
    assert seg.title == "青川地铁2号线完成85%工程量"
    assert seg.published == "2025-06-18"
    assert seg.reporters == ("张明",)
    assert seg.body == "截至6月中旬，青川市地铁2号线土建工程已完成85%。\n市轨道交通集团表示，2号线计划于今年12月底开通试运营。"


def test_text_without_headline_or_byline_derives_a_title():
    text = "近日，青川市北原县塬上镇的苹果进入采收旺季，果农们每天清晨五点就上山采摘，收购商的货车排起了长队。\n今年全县苹果总产量预计达到65万吨。"
    (seg,) = segment_page(text)
    assert seg.title == "青川市北原县塬上镇的苹果进入采收旺季"
    assert len(seg.title) <= 30
    assert seg.body.count("\n") == 1


def test_hard_wrapped_lines_are_rejoined_and_intertitles_kept():
    text = (
        "河道治理见成效\n\n"
        "本报讯（记者 周明远）今年以来，全市完成河道清淤52万立方米，\n沿河排污口全部完成整治。\n\n"
        "生态护岸建设提速\n\n"
        "14公里生态护岸将在年底前完工。"
    )
    (seg,) = segment_page(text)
    assert seg.body == (
        "今年以来，全市完成河道清淤52万立方米，沿河排污口全部完成整治。\n生态护岸建设提速\n14公里生态护岸将在年底前完工。"
    )


def test_empty_or_headline_only_page_gives_no_segment():
    assert segment_page("") == []
    assert segment_page("\n \n\u3000\n") == []
    assert segment_page("只有一个标题") == []


def test_bylines_printed_at_the_end_close_their_article():
    text = (
        "云溪港二期码头开工\n\n3月5日，云溪港二期码头工程开工建设。\n\n（本报记者 韩冬梅）\n\n"
        "湿地迎来候鸟\n\n今年入冬以来，共有43种候鸟在云溪湿地越冬。\n\n（记者 潘玉洁）\n"
    )
    port, birds = segment_page(text)
    assert (port.title, port.reporters, port.body) == ("云溪港二期码头开工", ("韩冬梅",), "3月5日，云溪港二期码头工程开工建设。")
    assert (birds.title, birds.reporters) == ("湿地迎来候鸟", ("潘玉洁",))


def test_numbered_sections_contacts_and_glued_captions_stay_in_one_article():
    text = (
        "2023-07-22 08:36，正文：\n\n"
        "图为游客在云溪古镇游览。云溪古镇管委会供图\n\n"
        "云溪网7月21日电 暑期旅游旺季已至，云溪市文旅局提醒游客注意出行安全，提前规划行程，错峰出游。\n\n"
        "出行注意事项\n\n01提前了解天气\n\n出发前请关注天气预报，雷雨天气不要前往山区和水边景点，注意防范山洪和落石。\n\n"
        "02保管好证件财物\n\n请将身份证件与现金分开放置，在人流密集处留意随身物品。\n\n"
        "景区咨询电话：0571-12345678\n\n旅游投诉电话：12345\n\n"
        "图为暑期游客在古镇码头排队乘船，工作人员在现场维持秩序，提醒游客有序上船、穿好救生衣。"
        "今年以来，古镇接待游客已超过120万人次，同比增长三成，带动周边民宿、餐饮等消费明显回暖。"
        "文旅局表示，将继续加强景区安全巡查，确保游客平安出行。\n"
    )
    (seg,) = segment_page(text)
    assert seg.published == "2023-07-22 08:36"
    assert seg.captions == ("图为游客在云溪古镇游览。（云溪古镇管委会供图）",)
    assert "出行注意事项\n01提前了解天气\n出发前" in seg.body
    assert "旅游投诉电话：12345" in seg.body
    assert seg.body.endswith("确保游客平安出行。")  # a long paragraph is never taken for a caption
