"""docs_proxy.regions on the botocore data installed: names as models write them, regions, what the data says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from docs_proxy import regions
from docs_proxy.regions import EndpointData, Unknown, find_region, find_service, normalise


@pytest.fixture(scope="module")
def data() -> EndpointData:
    return regions.load()


# (as written, botocore's name for the service, its key in endpoints.json)
NAMES = [
    ("Lambda", "lambda", "lambda"),
    ("AWS Lambda", "lambda", "lambda"),
    ("lambda", "lambda", "lambda"),
    ("  aws   lambda ", "lambda", "lambda"),
    ("Amazon Lambda", "lambda", "lambda"),
    ("Amazon S3", "s3", "s3"),
    ("S3", "s3", "s3"),
    ("s3", "s3", "s3"),
    ("Amazon Simple Storage Service", "s3", "s3"),
    ("Simple Storage Service", "s3", "s3"),
    ("Amazon Simple Storage Service (Amazon S3)", "s3", "s3"),
    ("EC2", "ec2", "ec2"),
    ("Amazon Elastic Compute Cloud", "ec2", "ec2"),
    ("Amazon DynamoDB", "dynamodb", "dynamodb"),
    ("Dynamo DB", "dynamodb", "dynamodb"),
    ("DynamoDB Streams", "dynamodbstreams", "streams.dynamodb"),
    ("Step Functions", "stepfunctions", "states"),
    ("AWS Step Functions", "stepfunctions", "states"),
    ("SFN", "stepfunctions", "states"),
    ("states", "stepfunctions", "states"),
    ("IAM", "iam", "iam"),
    ("AWS Identity and Access Management", "iam", "iam"),
    ("AWS Identity & Access Management", "iam", "iam"),
    ("CloudWatch", "cloudwatch", "monitoring"),
    ("Amazon CloudWatch Logs", "logs", "logs"),
    ("Route 53", "route53", "route53"),
    ("route53", "route53", "route53"),
    ("API Gateway", "apigateway", "apigateway"),
    ("Amazon Bedrock", "bedrock", "bedrock"),
    ("Bedrock Runtime", "bedrock-runtime", "bedrock-runtime"),
    ("SQS", "sqs", "sqs"),
    ("Amazon Simple Queue Service", "sqs", "sqs"),
    ("Amazon SNS", "sns", "sns"),
    ("RDS", "rds", "rds"),
    ("Amazon Neptune", "neptune", "neptune"),  # shares RDS's endpoint prefix, has an entry of its own
    ("DocDB", "docdb", "docdb"),
    ("Elastic Load Balancing", "elb", "elasticloadbalancing"),
    ("EKS", "eks", "eks"),
    ("Amazon OpenSearch Service", "opensearch", "es"),
    ("KMS", "kms", "kms"),
    ("AWS Key Management Service", "kms", "kms"),
    ("Secrets Manager", "secretsmanager", "secretsmanager"),
    ("CloudFront", "cloudfront", "cloudfront"),
    ("ECR", "ecr", "api.ecr"),
    ("EventBridge", "events", "events"),
    ("SSM", "ssm", "ssm"),
    ("SageMaker", "sagemaker", "api.sagemaker"),
    ("STS", "sts", "sts"),
    # an older and a newer generation under one name: the newer one (the older by "Classic"/"v1")
    ("Amazon Inspector", "inspector2", "inspector2"),
    ("Inspector Classic", "inspector", "inspector"),
    ("CloudHSM", "cloudhsmv2", "cloudhsmv2"),
    ("AWS CloudHSM Classic", "cloudhsm", "cloudhsm"),
    ("MediaPackage", "mediapackagev2", "mediapackagev2"),
    ("MediaPackage v1", "mediapackage", "mediapackage"),
    ("WAF", "wafv2", "wafv2"),
    ("AWS WAF Classic", "waf", "waf"),
    ("Pinpoint SMS Voice", "pinpoint-sms-voice-v2", "sms-voice"),
    # the reviewed aliases (regions.ALIASES), one case each
    ("Amazon Aurora", "rds", "rds"),
    ("AmazonAurora", "rds", "rds"),
    ("Amazon Data Firehose", "firehose", "firehose"),
    ("Amazon Kinesis Data Firehose", "firehose", "firehose"),
    ("AmazonDataFirehose", "firehose", "firehose"),
    ("Kinesis Data Streams", "kinesis", "kinesis"),
    ("CloudWatch Events", "events", "events"),
    ("Amazon MSK", "kafka", "kafka"),
    ("Amazon Managed Streaming for Apache Kafka", "kafka", "kafka"),
    ("AWS Systems Manager", "ssm", "ssm"),
    ("Parameter Store", "ssm", "ssm"),
    ("Session Manager", "ssm", "ssm"),
    ("AWS IAM Identity Center", "sso-admin", "sso"),
    ("Identity Center", "sso-admin", "sso"),
    ("Amazon VPC", "ec2", "ec2"),
    ("Transit Gateway", "ec2", "ec2"),
    ("AWS Fargate", "ecs", "ecs"),
    ("Amazon Elastic Container Service", "ecs", "ecs"),
    ("Cognito User Pools", "cognito-idp", "cognito-idp"),
    ("Elasticsearch", "opensearch", "es"),
    ("AWS IoT Core", "iot", "iot"),
    ("Amazon DocumentDB", "docdb", "docdb"),
    ("Amazon S3 Glacier", "glacier", "glacier"),
    ("Amazon Macie", "macie2", "macie2"),
    ("Amazon Managed Service for Apache Flink", "kinesisanalyticsv2", "kinesisanalytics"),
    ("Amazon Managed Prometheus", "amp", "aps"),
    ("Amazon Managed Service for Prometheus", "amp", "aps"),
    ("AWS Private CA", "acm-pca", "acm-pca"),
    ("AWS Firewall Manager", "fms", "fms"),
]


@pytest.mark.parametrize(("written", "name", "key"), NAMES)
def test_names_as_models_write_them(data: EndpointData, written: str, name: str, key: str) -> None:
    service = find_service(data, written)
    assert (service.name, service.endpoint_key) == (name, key)


def test_every_alias_names_a_service_with_regional_endpoints(data: EndpointData) -> None:
    """An alias is botocore's name of a service the endpoint file lists with Regions, and a test above covers it."""
    written = {normalise(name) for name, _service, _key in NAMES}
    for alias, name in regions.ALIASES.items():
        service = data.by_name[name]
        assert data.partitions["aws"].services[service.endpoint_key].regions, alias
        assert alias in written, alias


def test_an_older_generation_is_named_with_the_newer(data: EndpointData) -> None:
    resolved = regions.resolve(data, "Amazon Inspector")
    assert resolved.service is not None and resolved.legacy is not None
    assert (resolved.service.name, resolved.legacy.name) == ("inspector2", "inspector")
    inspector2 = regions.availability(data, resolved.service, data.partitions["aws"])
    assert inspector2.offered_in("eu-central-2") is True  # the older one has no endpoint there
    assert regions.availability(data, resolved.legacy, data.partitions["aws"]).offered_in("eu-central-2") is False
    assert set(data.successors) == {"cloudhsm", "inspector", "mediapackage", "pinpoint-sms-voice", "waf"}
    assert regions.resolve(data, "inspector2").legacy is None  # asked for by its own name: nothing to redirect


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Marketplace", {"AWSMarketplace Metering (metering.marketplace)", "AWS Marketplace Catalog Service "
                         "(catalog.marketplace)", "AWS Marketplace Entitlement Service (entitlement.marketplace)"}),
        ("Lex", {"Amazon Lex Runtime Service (runtime.lex)", "Amazon Lex Model Building V2 (models-v2-lex)"}),
    ],
)  # fmt: skip
def test_a_name_of_unrelated_services_matches_none_and_suggests_them(
    data: EndpointData, written: str, expected: set[str]
) -> None:
    resolved = regions.resolve(data, written)
    assert resolved.service is None and len(resolved.candidates) > 1
    with pytest.raises(Unknown) as raised:
        find_service(data, written)
    assert expected <= set(raised.value.suggestions), raised.value.suggestions


def test_a_name_shared_by_endpoint_prefix_goes_to_the_service_named_so(data: EndpointData) -> None:
    """ "lambda" is also the endpoint prefix of Lambda Web and Lambda MicroVMs: the name wins."""
    assert find_service(data, "lambda").full_name == "AWS Lambda"
    assert find_service(data, "Lambda Web").name == "lambda-web"


@pytest.mark.parametrize(
    ("written", "suggested"),
    [
        ("Cognito", "Amazon Cognito Identity Provider (cognito-idp)"),
        ("Mongo", "Amazon DocumentDB with MongoDB compatibility (docdb)"),
        ("Lambdaa", "AWS Lambda (lambda)"),
        ("Amazon Dynamo", "Amazon DynamoDB (dynamodb)"),
        ("Systems Mgr", "Amazon Simple Systems Manager (SSM) (ssm)"),
    ],
)
def test_no_match_suggests_close_names(data: EndpointData, written: str, suggested: str) -> None:
    with pytest.raises(Unknown) as raised:
        find_service(data, written)
    assert suggested in raised.value.suggestions
    assert len(raised.value.suggestions) <= regions.SUGGESTIONS


def test_names_containing_the_query_come_without_look_alikes(data: EndpointData) -> None:
    with pytest.raises(Unknown) as raised:
        find_service(data, "Cognito")
    assert all("Cognito" in name for name in raised.value.suggestions), raised.value.suggestions


@pytest.mark.parametrize(
    "written", ["", "   ", "!!!", "x" * 10_000, "AWS", "Amazon", "'; DROP TABLE--", "\u0000\ud7ff"]
)
def test_hostile_or_empty_names_match_nothing(data: EndpointData, written: str) -> None:
    with pytest.raises(Unknown) as raised:
        find_service(data, written)
    assert len(raised.value.suggestions) <= regions.SUGGESTIONS


def test_normalise() -> None:
    assert normalise("Amazon Simple Storage Service") == "simplestorageservice"
    assert normalise("AWS Identity & Access Management") == "identityandaccessmanagement"
    assert normalise("Amazon Web Services Lambda") == "lambda"
    assert normalise("Amazonian") == "amazonian"  # only the whole word is a vendor prefix


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("us-east-1", "us-east-1"),
        ("US-EAST-1", "us-east-1"),
        (" eu-central-1 ", "eu-central-1"),
        ("Europe (Frankfurt)", "eu-central-1"),
        ("Frankfurt", "eu-central-1"),
        ("tokyo", "ap-northeast-1"),
        ("US East (N. Virginia)", "us-east-1"),
        ("Virginia", "us-east-1"),  # the one Region whose name has every word of the query
        ("Northern Virginia", "us-east-1"),  # "N." read as "Northern"
        ("N. California", "us-west-1"),
        ("Zürich", "eu-central-2"),  # accents folded
        ("São Paulo", "sa-east-1"),
        ("EU (Frankfurt)", "eu-central-1"),  # "EU" read as "Europe"
        ("eu frankfurt", "eu-central-1"),
        ("Tel Aviv", "il-central-1"),
    ],
)
def test_regions_by_code_or_name(data: EndpointData, written: str, code: str) -> None:
    assert find_region(data.partitions["aws"], written) == code


def test_a_region_of_another_partition_says_which(data: EndpointData) -> None:
    with pytest.raises(Unknown, match=r'in the aws-cn partition .* pass partition="aws-cn"'):
        find_region(data.partitions["aws"], "cn-north-1", [data.partitions["aws-cn"]])
    assert find_region(data.partitions["aws-cn"], "Beijing") == "cn-north-1"
    assert find_region(data.partitions["aws-cn"], "China (Ningxia)") == "cn-northwest-1"


@pytest.mark.parametrize(
    ("written", "partition", "codes"),
    [
        ("Beijing", "aws-cn", "cn-north-1"),
        ("China", "aws-cn", "cn-north-1 (China (Beijing)), cn-northwest-1"),
        ("GovCloud West", "aws-us-gov", "us-gov-west-1"),
        ("AWS GovCloud (US-East)", "aws-us-gov", "us-gov-east-1"),
    ],
)
def test_a_region_name_of_another_partition_says_which(
    data: EndpointData, written: str, partition: str, codes: str
) -> None:
    others = [data.partitions["aws-cn"], data.partitions["aws-us-gov"]]
    with pytest.raises(
        Unknown, match=rf"in the {partition} partition .*{re.escape(codes)}.* pass partition=\"{partition}\""
    ):
        find_region(data.partitions["aws"], written, others)


def test_a_name_several_regions_have_lists_them(data: EndpointData) -> None:
    with pytest.raises(Unknown, match="8 Regions of the aws partition match 'Europe'") as raised:
        find_region(data.partitions["aws"], "Europe")
    assert "eu-central-2 (Europe (Zurich))" in raised.value.suggestions
    assert len(raised.value.suggestions) == regions.REGION_CONTAINING
    assert regions.match_region(data.partitions["aws"], "US East") is None
    with pytest.raises(Unknown) as us_east:
        find_region(data.partitions["aws"], "US East")
    assert us_east.value.suggestions == ["us-east-1 (US East (N. Virginia))", "us-east-2 (US East (Ohio))"]


def test_an_unknown_region_suggests_close_ones(data: EndpointData) -> None:
    with pytest.raises(Unknown) as raised:
        find_region(data.partitions["aws"], "us-east-3")
    assert "us-east-1 (US East (N. Virginia))" in raised.value.suggestions
    assert "us-east-2 (US East (Ohio))" in raised.value.suggestions


def test_the_partitions_regions(data: EndpointData) -> None:
    aws, cn = data.partitions["aws"], data.partitions["aws-cn"]
    assert cn.regions == {"cn-north-1": "China (Beijing)", "cn-northwest-1": "China (Ningxia)"}
    assert aws.regions["us-east-1"] == "US East (N. Virginia)"
    assert "aws-global" not in aws.regions and "aws-cn-global" not in cn.regions  # pseudo-regions
    assert not any(code.startswith("cn-") for code in aws.regions)
    assert set(cn.regions) <= cn.endpoint_regions


def test_availability_in_both_partitions(data: EndpointData) -> None:
    aws, cn = data.partitions["aws"], data.partitions["aws-cn"]
    lambda_ = find_service(data, "Lambda")
    in_aws = regions.availability(data, lambda_, aws)
    assert in_aws.listed and in_aws.global_region is None
    assert {"us-east-1", "eu-central-1", "ap-northeast-1"} <= set(in_aws.regions)
    assert set(in_aws.regions) <= set(aws.regions)  # no fips-*, no pseudo-regions
    assert in_aws.offered_in("us-east-1") is True
    in_cn = regions.availability(data, lambda_, cn)
    assert in_cn.regions == ("cn-north-1", "cn-northwest-1")
    assert in_cn.offered_in("cn-north-1") is True


def test_a_service_absent_from_a_partition_is_offered_in_none_of_its_regions(data: EndpointData) -> None:
    """Bedrock has endpoints in aws but none in the China Regions, per the data."""
    bedrock = find_service(data, "Amazon Bedrock")
    assert regions.availability(data, bedrock, data.partitions["aws"]).regions
    in_cn = regions.availability(data, bedrock, data.partitions["aws-cn"])
    assert in_cn.listed and in_cn.regions == ()
    assert in_cn.offered_in("cn-north-1") is False


def test_a_global_service_has_one_endpoint_for_the_partition(data: EndpointData) -> None:
    iam = find_service(data, "IAM")
    in_aws = regions.availability(data, iam, data.partitions["aws"])
    assert in_aws.global_region == "us-east-1" and in_aws.offered_in("eu-west-1") is True
    in_cn = regions.availability(data, iam, data.partitions["aws-cn"])
    assert in_cn.global_region in {"cn-north-1", "cn-northwest-1"} and in_cn.offered_in("cn-northwest-1") is True


@pytest.mark.parametrize(
    ("written", "partition", "signing"),
    [
        ("AWS Support", "aws", "us-east-1"),  # a partition endpoint, the service not marked unregionalised
        ("AWS Support", "aws-cn", "cn-north-1"),
        ("Route53 Recovery Control Config", "aws", "us-west-2"),  # only an "aws-global" endpoint
        ("AWS Health", "aws-us-gov", "us-gov-west-1"),  # "aws-us-gov-global", its Region's endpoints deprecated
    ],
)
def test_a_service_with_only_a_partition_wide_endpoint_is_global(
    data: EndpointData, written: str, partition: str, signing: str
) -> None:
    found = regions.availability(data, find_service(data, written), data.partitions[partition])
    assert found.global_region == signing and found.regions == ()
    assert found.offered_in(next(iter(data.partitions[partition].endpoint_regions))) is True


def test_a_service_with_regional_endpoints_is_not_global(data: EndpointData) -> None:
    """S3 and STS have an "aws-global" endpoint besides their Regions' own: they stay regional."""
    for written in ("S3", "STS", "WAF Regional", "Lambda"):
        found = regions.availability(data, find_service(data, written), data.partitions["aws"])
        assert found.global_region is None and found.regions, written


def test_a_service_the_endpoint_file_does_not_list_is_unknown_not_absent(data: EndpointData) -> None:
    runtime = find_service(data, "Bedrock Runtime")  # endpoints by rule set only: no Region list in the file
    found = regions.availability(data, runtime, data.partitions["aws"])
    assert not found.listed and found.regions == ()
    assert found.offered_in("us-east-1") is None


def test_regions_newer_than_the_endpoint_data_are_unknown(data: EndpointData) -> None:
    aws = data.partitions["aws"]
    newer = [code for code in aws.regions if code not in aws.endpoint_regions]
    found = regions.availability(data, find_service(data, "Lambda"), aws)
    assert found.unknown == tuple(newer)
    for code in newer:
        assert found.offered_in(code) is None


def test_every_service_model_botocore_ships_is_read(data: EndpointData) -> None:
    """Each service folder gives a service (its metadata found at the head of its model, or by a full parse)."""
    folders = [p for p in regions.data_dir().iterdir() if p.is_dir() and any(v.is_dir() for v in p.iterdir())]
    assert {s.name for s in data.services} == {p.name for p in folders}


def test_metadata_past_the_head_is_found_by_a_full_parse(tmp_path: Path) -> None:
    version = tmp_path / "late" / "2020-01-01"
    version.mkdir(parents=True)
    late = {"operations": {"Op": {"documentation": "x" * (regions.METADATA_HEAD * 2)}}, "metadata": {
        "endpointPrefix": "late", "serviceFullName": "Amazon Late Service", "serviceId": "Late"}}  # fmt: skip
    (version / "service-2.json").write_text(json.dumps(late))
    assert list(regions._service_metadata(tmp_path)) == [("late", late["metadata"])]


def test_loaded_once(data: EndpointData) -> None:
    assert regions.load() is data and regions.loaded() is data
