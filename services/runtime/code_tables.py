"""National code tables that a person's items are written in, shared by the foundation's loads and query's Verify.

Each table lists its values in the order the standard numbers them from 1, as a department's database often holds
the number instead of the value (性别 1 for 男, 民族 01 for 汉族): the foundation refuses such a number in a load,
naming the value it stands for; Verify reads a claimed one as that value.
"""

from __future__ import annotations

#: GB/T 2261.1 人的性别代码: 1 男, 2 女.
SEXES = ("男", "女")
#: GB/T 3304 中国各民族名称的罗马字母拼写法和代码: 01 汉族 … 56 基诺族.
ETHNICITIES = (
    "汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族", "布依族", "朝鲜族",
    "满族", "侗族", "瑶族", "白族", "土家族", "哈尼族", "哈萨克族", "傣族", "黎族", "傈僳族",
    "佤族", "畲族", "高山族", "拉祜族", "水族", "东乡族", "纳西族", "景颇族", "柯尔克孜族", "土族",
    "达斡尔族", "仫佬族", "羌族", "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族", "普米族",
    "塔吉克族", "怒族", "乌孜别克族", "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族", "京族", "塔塔尔族",
    "独龙族", "鄂伦春族", "赫哲族", "门巴族", "珞巴族", "基诺族",
)

#: 企业信用信息公示系统's words for a market entity's 登记状态, each as the status of the foundation's table it is
#: (services.foundation.datasets.ENTITY_STATUSES): it prints 存续 as 存续（在营、开业、在册）, whose three words older
#: registers and licences use, and a revoked licence as 吊销，未注销 or, once the entity is struck off, 吊销，已注销.
#: Written as query's Verify compares them (NFKC, without blanks).
ENTITY_STATUS_WORDS = {
    "在营": "存续", "开业": "存续", "在册": "存续", "存续(在营、开业、在册)": "存续",
    "吊销,未注销": "吊销", "吊销未注销": "吊销", "吊销,已注销": "注销", "吊销已注销": "注销",
}


def numbered(value: str, table: tuple[str, ...]) -> str:
    """The value of ``table`` that ``value`` numbers (1 or 01 for its first), else ``value`` itself."""
    if value.isascii() and value.isdigit() and 1 <= int(value) <= len(table):
        return table[int(value) - 1]
    return value
