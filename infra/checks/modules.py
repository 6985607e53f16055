"""Module wiring, as the Bicep compiler would check it (BCP035, BCP037, BCP053).

For every ``module`` declaration in every template:

* the module file exists;
* every parameter passed is declared by the module, and every module parameter without a
  default is passed;
* every ``<module>.outputs.<name>`` the template reads is an output the module declares.
"""

from __future__ import annotations

import re
from pathlib import Path

from infra.checks.bicep_eval import Template

INFRA = Path("infra")

_OUTPUT_REFERENCE = re.compile(
    r"\b(?P<module>[A-Za-z_][A-Za-z0-9_]*)\.outputs\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
)


def module_problems(root: Path) -> list[str]:
    problems: list[str] = []
    for path in sorted((root / INFRA).rglob("*.bicep")):
        template = Template.load(path)
        where = path.relative_to(root)
        declared_modules: dict[str, Template] = {}
        for name, module in template.modules.items():
            if module.get("type") != "local":
                problems.append(f"{where}: module {name} is not a local file")
                continue
            target = path.parent / module["detail"]["path"]
            if not target.exists():
                problems.append(f"{where}: module {name} -> missing {target.relative_to(root)}")
                continue
            callee = Template.load(target)
            declared_modules[name] = callee
            passed = set(template.module_arguments(name))
            for parameter in sorted(passed - set(callee.parameters)):
                problems.append(f"{where}: module {name} passes {parameter}, not a parameter of it")
            for parameter, body in sorted(callee.parameters.items()):
                if body.get("default") is None and parameter not in passed:
                    problems.append(f"{where}: module {name} does not pass required {parameter}")
        text = path.read_text()
        for match in _OUTPUT_REFERENCE.finditer(text):
            callee_template = declared_modules.get(match["module"])
            if callee_template is None:
                continue
            outputs = callee_template.parsed.get("outputs") or {}
            if match["name"] not in outputs:
                line = text.count("\n", 0, match.start()) + 1
                problems.append(
                    f"{where}:{line}: {match['module']}.outputs.{match['name']} is not an output "
                    f"of {callee_template.path.name}"
                )
    return problems
