"""Synthea FHIR R4 bundles -> charts, with orjson and plain dataclasses (no FHIR model library).

- ``parse``: one patient bundle -> ``PatientRecord`` (both bundle variants, linear time).
- ``providers``: the run's ``hospitalInformation*``/``practitionerInformation*`` files ->
  a ``ProviderDirectory`` that resolves conditional provider references.
- ``charts``: ``PatientRecord`` -> ``ChartDraft`` rows (the chart rule lives there).
- ``rules``: record type, specialty and difficulty, keyed on codes.
- ``sources``: files, folders and .zip archives -> named inputs in a stable order.

Pure: nothing here touches the database; ``app.services.imports`` writes the charts.
"""
