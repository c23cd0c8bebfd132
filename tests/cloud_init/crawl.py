"""cloud-init's own datasource code (Debian's cloud-init, extracted by .ci/run) crawling the
metadata service of a lab VM: run inside the VM's namespace by tests/cloud_init.rs as
`python3 -I crawl.py PROVIDER SITE_DIR...`. Prints one JSON object: whether the crawl
succeeded, the addresses cloud-init would configure beyond DHCP's, by MAC (None where this
version reads none), whether it sent a session token, and every log record of WARNING or
above (none may come from the emulator's answers)."""
import io
import json
import logging
import sys
import tempfile

sys.path[:0] = sys.argv[2:]
PROVIDER = sys.argv[1]

records = io.StringIO()
handler = logging.StreamHandler(records)
handler.setLevel(logging.WARNING)
handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.DEBUG)

from cloudinit import distros, helpers  # noqa: E402

TMP = tempfile.mkdtemp()
PATHS = helpers.Paths({"cloud_dir": TMP, "run_dir": TMP})
DISTRO = distros.fetch("debian")("debian", {}, PATHS)


def ec2_like(module, cls, name, cloud, url):
    from cloudinit.sources import DataSourceEc2 as ec2

    sys_cfg = {"datasource": {name: {"metadata_urls": [url], "max_wait": 10, "timeout": 5}}}
    ds = getattr(module, cls)(sys_cfg, DISTRO, PATHS)
    ds._cloud_name = getattr(ec2.CloudNames, cloud)
    crawled = ds.crawl_metadata()
    macs = crawled["meta-data"]["network"]["interfaces"]["macs"]
    if cloud == "ALIYUN":
        # 22.4 reads no address list on Alibaba but the EC2-style local-ipv4s it does not get.
        addresses = None
    else:
        addresses = {mac: ec2.get_secondary_addresses(nic, mac) for mac, nic in macs.items()}
    return {"ok": bool(crawled), "addresses": addresses, "token": bool(ds._api_token)}


def aws():
    from cloudinit.sources import DataSourceEc2 as m

    return ec2_like(m, "DataSourceEc2", "Ec2", "AWS", "http://169.254.169.254")


def alibaba():
    from cloudinit.sources import DataSourceAliYun as m

    return ec2_like(m, "DataSourceAliYun", "AliYun", "ALIYUN", "http://100.100.100.200")


def azure():
    from cloudinit.sources import DataSourceAzure as m

    md = m.get_metadata_from_imds(retries=0, api_version=m.IMDS_VER_WANT)
    net = m.generate_network_config_from_instance_network_metadata(md["network"])
    addresses = {}
    for dev in net["ethernets"].values():
        mac = dev["match"]["macaddress"]
        addresses[mac] = sorted(dev.get("addresses", []))
    pps = md.get("extended", {}).get("compute", {}).get("ppsType")
    return {"ok": True, "addresses": addresses, "token": False, "ppsType": pps}


def gcp():
    from cloudinit.sources import URLParams
    from cloudinit.sources import DataSourceGCE as m

    params = URLParams(max_wait_seconds=10, timeout_seconds=5, num_retries=0, sec_between_retries=1)
    md = m.read_md(address=m.MD_V1_URL, url_params=params, platform_check=False)
    m._write_host_key_to_guest_attributes("ssh-ed25519", "AAAA test-key")
    from cloudinit import url_helper

    url = m.GUEST_ATTRIBUTES_URL + "/" + m.HOSTKEY_NAMESPACE + "/ssh-ed25519"
    back = url_helper.readurl(url=url, headers=m.HEADERS, check_status=False)
    return {
        "ok": md["success"],
        "addresses": None,
        "token": False,
        "reason": md.get("reason"),
        "guest_attribute": [back.code, back.contents.decode()],
    }


def oracle():
    from cloudinit.sources import DataSourceOracle as m

    md = m.read_opc_metadata(fetch_vnics_data=True)
    addresses = {}
    for vnic in md.vnics_data:
        cidr = vnic["subnetCidrBlock"].split("/")[1]
        addresses[vnic["macAddr"].lower()] = ["%s/%s" % (vnic["privateIp"], cidr)]
    return {"ok": md.version == 2, "addresses": addresses, "token": False}


def digitalocean():
    from cloudinit.sources.helpers import digitalocean as do

    md = do.read_metadata("http://169.254.169.254/metadata/v1.json", timeout=5, retries=0)
    cfg = do.convert_network_configuration(md["interfaces"], md.get("dns", {}).get("nameservers", []))
    addresses = {}
    for entry in cfg["config"]:
        if entry.get("type") != "physical":
            continue
        nets = [
            "%s/%s" % (s["address"], s["netmask"])
            for s in entry.get("subnets", [])
            if s.get("type") == "static" and ":" not in s["address"]
        ]
        addresses[entry["mac_address"]] = sorted(nets)
    return {"ok": bool(md), "addresses": addresses, "token": False}


CRAWLERS = {
    "aws": aws,
    "alibaba": alibaba,
    "azure": azure,
    "gcp": gcp,
    "oracle": oracle,
    "digitalocean": digitalocean,
}

try:
    result = CRAWLERS[PROVIDER]()
except Exception as error:  # the test shows what failed
    result = {"ok": False, "error": "%s: %s" % (type(error).__name__, error)}
result["log"] = [line for line in records.getvalue().splitlines() if line]
print(json.dumps(result, sort_keys=True))
