from govshare_client import Client

# GOVSHARE_ENDPOINT, GOVSHARE_SYSTEM_ID and GOVSHARE_SYSTEM_SECRET say where and who you are
with Client() as client:
    answer = client.query("102001/000001", "924103023250193249", items=["name", "status"],
                          purpose="work_reference", purpose_text="窗口受理 2026-001")
    print(answer.values, answer.provenance.provider_department_code, answer.audit_id)
