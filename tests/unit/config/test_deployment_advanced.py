from __future__ import annotations

import pathlib

import pytest

from a2f_actors.config.advanced import AdvancedConfig
from a2f_actors.config.deployment import DeploymentConfig
from a2f_actors.config.loader import detect_kind, load_file, validate_data
from a2f_actors.errors import ConfigError

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def test_deployment_loads_every_key_when_given_nvidia_v20_file() -> None:
    kind, cfg = load_file(FIXTURES / "nim_v2.0" / "deployment_config.yaml")
    assert kind == "deployment"
    assert cfg == DeploymentConfig()
    assert cfg.endpoints.bidirectional.server.url == "0.0.0.0:52000"
    assert cfg.telemetry.prometheus_endpoint == "0.0.0.0:9464"


def test_advanced_loads_every_key_when_given_nvidia_v20_file() -> None:
    kind, cfg = load_file(FIXTURES / "nim_v2.0" / "advanced_config.yaml")
    assert kind == "advanced"
    assert cfg == AdvancedConfig()
    assert cfg.pipeline_parameters.burst_mode is False
    assert cfg.pipeline_parameters.blendshape_streaming_fps == 90
    assert cfg.trt_model_generation.a2e.precision == "fp32"
    assert cfg.garbage_collector.enabled is False


def test_advanced_loads_with_v20_defaults_when_file_is_v13() -> None:
    _, cfg = load_file(FIXTURES / "nim_v1.3" / "advanced_config.yaml", "advanced")
    assert cfg.pipeline_parameters.blendshape_streaming_fps == 90
    assert cfg.a2f.temporal_smoothing is False


def test_advanced_error_names_file_key_and_fix_when_trt_shapes_unordered() -> None:
    data = {"trt_model_generation": {"a2f": {"min_shape": 20, "optimal_shape": 10}}}
    with pytest.raises(ConfigError) as exc:
        validate_data("advanced", data, "advanced_config.yaml")
    msg = str(exc.value)
    assert msg.startswith("advanced_config.yaml: trt_model_generation.a2f: ")
    assert "min_shape (20) <= optimal_shape (10)" in msg
    assert "reorder" in msg


def test_advanced_error_prints_range_when_min_shape_is_zero() -> None:
    data = {"trt_model_generation": {"a2f": {"min_shape": 0}}}
    with pytest.raises(ConfigError) as exc:
        validate_data("advanced", data, "advanced_config.yaml")
    assert str(exc.value) == (
        "advanced_config.yaml: trt_model_generation.a2f.min_shape: Input should be greater "
        "than or equal to 1; got 0; allowed range [1, 4096]; fix: set "
        "trt_model_generation.a2f.min_shape to a value in that range"
    )


def test_advanced_rejects_fp16_when_set_for_a2e() -> None:
    data = {"trt_model_generation": {"a2e": {"precision": "fp16"}}}
    with pytest.raises(ConfigError, match=r"fp32 only"):
        validate_data("advanced", data, "a.yaml")


def test_advanced_lists_precisions_when_precision_unknown() -> None:
    data = {"trt_model_generation": {"a2f": {"precision": "int8"}}}
    with pytest.raises(ConfigError, match=r"got 'int8'; allowed values: fp16, fp32"):
        validate_data("advanced", data, "a.yaml")


def test_advanced_rejects_resampling_quality_when_above_ten() -> None:
    with pytest.raises(ConfigError, match=r"resampling.quality.*\[1.0, 10.0\]"):
        validate_data("advanced", {"resampling": {"quality": 11}}, "a.yaml")


def test_advanced_rejects_sample_rates_when_min_above_max() -> None:
    data = {"input_sanitization": {"min_sample_rate": 48000, "max_sample_rate": 44100}}
    with pytest.raises(ConfigError, match=r"min_sample_rate .48000. > max_sample_rate"):
        validate_data("advanced", data, "a.yaml")


def test_deployment_requires_cert_paths_when_secure_mode_is_mtls() -> None:
    server = {"secure_mode": "mtls", "certificate_path": "/c.pem", "key_path": "/k.pem"}
    data = {"endpoints": {"bidirectional": {"server": server}}}
    with pytest.raises(ConfigError, match=r"secure_mode 'mtls' needs ca_path"):
        validate_data("deployment", data, "d.yaml")
    server["ca_path"] = "/ca.pem"
    cfg = validate_data("deployment", data, "d.yaml")
    assert cfg.endpoints.bidirectional.server.secure_mode == "mtls"


def test_deployment_rejects_port_when_out_of_range() -> None:
    data = {"endpoints": {"bidirectional": {"server": {"url": "0.0.0.0:70000"}}}}
    with pytest.raises(ConfigError, match=r"port 70000"):
        validate_data("deployment", data, "d.yaml")


def test_deployment_asks_for_migration_when_log_level_is_v13_name() -> None:
    with pytest.raises(ConfigError, match=r"NIM v1.3 deployment config.*migrate"):
        validate_data("deployment", {"logging": {"log_level": "err"}}, "d.yaml")


def test_deployment_rejects_timeout_when_longer_than_interval() -> None:
    data = {"telemetry": {"otel_metric_export_timeout": 90000}}
    with pytest.raises(ConfigError, match=r"exceeds otel_metric_export_interval"):
        validate_data("deployment", data, "d.yaml")


def test_loader_names_file_and_line_when_yaml_is_malformed(write) -> None:
    path = write("bad_advanced.yaml", "a2f:\n  device_id: 0\n  use_gpu_solver: [true\n")
    with pytest.raises(ConfigError, match=r"bad_advanced.yaml:\d+:\d+: YAML syntax error"):
        load_file(path)


def test_loader_names_line_when_key_is_duplicated(write) -> None:
    path = write("dup_advanced.yaml", "a2f:\n  device_id: 0\n  device_id: 1\n")
    with pytest.raises(ConfigError, match=r"dup_advanced.yaml:3:\d+: .*duplicate key 'device_id'"):
        load_file(path)


def test_loader_rejects_file_when_top_level_is_a_list(write) -> None:
    path = write("list_deployment.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"top level must be a mapping"):
        load_file(path)


def test_loader_reports_missing_file_when_path_does_not_exist(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the file"):
        load_file(tmp_path / "nope_advanced.yaml")


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"common": {}}, "deployment"),
        ({"resampling": {}}, "advanced"),
        ({"a2f": {"device_id": 0}}, "advanced"),
        ({"a2f": {"face_params": {}}}, "stylization"),
        ({"a2e": {"post_processing_params": {}}}, "stylization"),
    ],
)
def test_detect_kind_uses_keys_when_file_name_says_nothing(data: dict, kind: str) -> None:
    assert detect_kind(data, "config.yaml") == kind


def test_detect_kind_fails_when_nothing_tells() -> None:
    with pytest.raises(ConfigError, match=r"cannot tell"):
        detect_kind({"foo": 1}, "x.yaml")
