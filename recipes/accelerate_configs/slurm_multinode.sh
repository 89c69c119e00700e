#!/bin/bash
# sbatch --nodes 2 recipes/accelerate_configs/slurm_multinode.sh sft recipes/facial_r1/sft.yaml zero3
#
# Multi-node training under SLURM: one `accelerate launch` per node (srun), all pointed at node 0
# (main_process_ip), each with its own machine_rank. Arguments: recipe (sft | grpo_facial_r1 |
# grpo_affectgpt_r1), recipe config, accelerate config name (ddp | zero2 | zero3 | zero3_offload),
# then any --key value overrides for the recipe. Run from the repository root.
#SBATCH --job-name=affectllm
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --cpus-per-task=96
#SBATCH --exclusive
#SBATCH --output=logs/%x-%j.out
#SBATCH --error=logs/%x-%j.err
set -euo pipefail

RECIPE=${1:?recipe: sft | grpo_facial_r1 | grpo_affectgpt_r1}
CONFIG=${2:?recipe config YAML}
ACCELERATE=${3:-zero3}
shift $(( $# < 3 ? $# : 3 ))

GPUS_PER_NODE=${GPUS_PER_NODE:-8}
NUM_NODES=$SLURM_NNODES
WORLD_SIZE=$((NUM_NODES * GPUS_PER_NODE))
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MASTER_PORT=${MASTER_PORT:-29500}

# The machine_rank of each node is its SLURM_PROCID (one task per node); escaped so that every
# node expands its own value.
srun --nodes="$NUM_NODES" --ntasks="$NUM_NODES" bash -c "accelerate launch \
    --config_file recipes/accelerate_configs/${ACCELERATE}.yaml \
    --num_machines $NUM_NODES \
    --num_processes $WORLD_SIZE \
    --machine_rank \$SLURM_PROCID \
    --main_process_ip $MASTER_ADDR \
    --main_process_port $MASTER_PORT \
    --rdzv_backend c10d \
    recipes/${RECIPE}.py --config $CONFIG $*"
