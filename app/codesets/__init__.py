"""Code sets: ICD-10-CM tabular and notes, ICD-10-PCS list, MCE / MS-DRG adapter, comorbidity maps."""
